//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFailsafeMode freezes etcd (SIGSTOP) for 3*ttl with failsafe_mode on: every member
// confirms the primary over POST /failsafe, so it keeps accepting writes the whole time,
// its postmaster is never restarted, and no replica is promoted. After SIGCONT the
// cluster is back to normal with the same leader, without a restart.
func TestFailsafeMode(t *testing.T) {
	tm := timings{ttl: 10, loopWait: 1, retryTimeout: 2, primaryStartTimeout: 300}
	endpoints, etcdPid := startDebianEtcdProcess(t)
	c := newCluster(t, endpoints, tm)
	c.enableFailsafe()
	for _, n := range c.nodes {
		c.start(n)
	}
	p := c.waitPrimary(60 * time.Second)
	for _, n := range c.others(p) {
		c.waitReplica(n, 60*time.Second)
	}
	must(t, c.exec(p, "CREATE TABLE e2e_rows (id int PRIMARY KEY)"))

	// The leader keeps /failsafe in Patroni's format: every member's api_url.
	c.waitFailsafeKey(p)
	pm := p.postmasterPid()

	must(t, syscall.Kill(etcdPid, syscall.SIGSTOP))
	frozen := time.Now()
	outage := 3 * time.Duration(tm.ttl) * time.Second
	writes, active := 0, false
	for id := 1; time.Since(frozen) < outage; id++ {
		if err := c.exec(p, "INSERT INTO e2e_rows (id) VALUES ($1)", id); err != nil {
			_ = syscall.Kill(etcdPid, syscall.SIGCONT)
			t.Fatalf("write refused %.1fs into a %s etcd freeze with failsafe_mode on: %v", time.Since(frozen).Seconds(), outage, err)
		}
		writes++
		if id%10 == 0 {
			if got := c.primary(); got != p {
				_ = syscall.Kill(etcdPid, syscall.SIGCONT)
				t.Fatalf("%.1fs into the freeze: /primary answered by %v, want %s", time.Since(frozen).Seconds(), got, p.name)
			}
			for _, n := range c.others(p) {
				if ok, err := c.inRecovery(n); err != nil || !ok {
					_ = syscall.Kill(etcdPid, syscall.SIGCONT)
					t.Fatalf("%.1fs into the freeze: %s in recovery = %v (%v)", time.Since(frozen).Seconds(), n.name, ok, err)
				}
			}
			if st := p.status(); st != nil && st["failsafe_mode_is_active"] == true {
				active = true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	resumed := time.Now()
	must(t, syscall.Kill(etcdPid, syscall.SIGCONT))
	t.Logf("measured: %d writes accepted by %s during a %s etcd freeze (ttl %ds)", writes, p.name, outage, tm.ttl)
	if !active {
		t.Error("the primary never reported failsafe_mode_is_active during the freeze")
	}
	if !c.logContains(p, "continue to run as a leader because failsafe mode is enabled and all members are accessible") {
		t.Error("the primary never logged that failsafe mode kept it running")
	}
	if got := p.postmasterPid(); got != pm {
		t.Errorf("the primary's postmaster changed during the freeze: %d -> %d", pm, got)
	}

	holdsKey := func() bool {
		if c.primary() != p {
			return false
		}
		var cl struct {
			Members []struct{ Name, Role string } `json:"members"`
		}
		if json.Unmarshal([]byte(getBody(p, "/cluster")), &cl) != nil {
			return false
		}
		for _, m := range cl.Members {
			if m.Role == "leader" {
				return m.Name == p.name
			}
		}
		return false
	}
	c.eventually(p.name+" to hold the leader key again and answer /primary", 30*time.Second, holdsKey)
	t.Logf("measured: etcd back -> %s holds the leader key and answers /primary after %.2fs", p.name, time.Since(resumed).Seconds())
	if c.primary() != p {
		t.Fatal("the primary changed after the etcd freeze")
	}
	for _, n := range c.others(p) {
		c.waitReplica(n, 60*time.Second)
	}
	c.eventually("failsafe_mode_is_active to clear", 30*time.Second, func() bool {
		st := p.status()
		return st != nil && st["failsafe_mode_is_active"] == nil
	})
	if err := c.exec(p, "INSERT INTO e2e_rows (id) VALUES ($1)", 1_000_000); err != nil {
		t.Fatalf("write after the freeze: %v", err)
	}
	// The member keys expired during the freeze; the leader lists every member again.
	c.waitFailsafeKey(p)
	// A key left over from before the freeze would be gone by now: this one is live.
	time.Sleep(time.Until(resumed.Add(time.Duration(tm.ttl+2) * time.Second)))
	if !holdsKey() {
		t.Fatalf("%s does not hold the leader key %ds after etcd returned", p.name, tm.ttl+2)
	}
	if got := p.postmasterPid(); got != pm {
		t.Errorf("the primary's postmaster changed after the freeze: %d -> %d", pm, got)
	}
}

// TestFailsafeLeaderDown: with failsafe_mode on and etcd up, a killed leader is
// replaced by a known replica (the dead leader, still listed in /failsafe, does not
// block the race), and once the old leader is back /failsafe lists every member again.
func TestFailsafeLeaderDown(t *testing.T) { failsafeLeaderDown(t, "") }

// TestFailsafeLeaderDownPatroni runs the same scenario with Patroni 3.0.2, for comparison.
func TestFailsafeLeaderDownPatroni(t *testing.T) {
	if _, err := os.Stat("/usr/bin/patroni"); err != nil {
		t.Skip("/usr/bin/patroni not installed")
	}
	failsafeLeaderDown(t, "/usr/bin/patroni")
}

func failsafeLeaderDown(t *testing.T, patroni string) {
	tm := timings{ttl: 8, loopWait: 1, retryTimeout: 2, primaryStartTimeout: 300}
	c := newCluster(t, startEmbeddedEtcd(t), tm)
	c.enableFailsafe()
	start := c.start
	if patroni != "" {
		start = func(n *node) { c.startPatroni(n, patroni) }
	}
	for _, n := range c.nodes {
		start(n)
	}
	old := c.waitPrimary(60 * time.Second)
	must(t, c.exec(old, "CREATE TABLE e2e_rows (id int PRIMARY KEY)"))
	c.waitFailsafeKey(old)
	for _, n := range c.others(old) {
		c.waitStreaming(old, n, 30*time.Second)
	}

	killed := time.Now()
	c.kill9(old)
	np, took := c.timeToWrite(killed, 1, 60*time.Second)
	t.Logf("measured: %s: failsafe_mode on, leader killed with etcd up -> first write on %s after %.2fs (ttl %ds)", agentName(patroni), np.name, took.Seconds(), tm.ttl)
	if took > time.Duration(2*tm.ttl)*time.Second {
		t.Errorf("failover took %s, more than 2*ttl", took)
	}
	start(old)
	c.waitStreaming(np, old, 90*time.Second)
	c.waitFailsafeKey(np)
}

// enableFailsafe sets failsafe_mode in every node's bootstrap.dcs.
func (c *testCluster) enableFailsafe() {
	for _, n := range c.nodes {
		b, err := os.ReadFile(n.config)
		must(c.t, err)
		conf := strings.Replace(string(b), "    maximum_lag_on_failover: 1048576\n", "    maximum_lag_on_failover: 1048576\n    failsafe_mode: true\n", 1)
		must(c.t, os.WriteFile(n.config, []byte(conf), 0o600))
	}
}

// waitFailsafeKey waits until the leader p's GET /failsafe lists every member's api_url,
// Patroni's format of the /failsafe key.
func (c *testCluster) waitFailsafeKey(p *node) {
	c.t.Helper()
	want := map[string]string{}
	for _, n := range c.nodes {
		want[n.name] = fmt.Sprintf("http://127.0.0.1:%d/patroni", n.apiPort)
	}
	c.eventually("GET /failsafe on "+p.name+" to list every member", 30*time.Second, func() bool {
		var got map[string]string
		if json.Unmarshal([]byte(getBody(p, "/failsafe")), &got) != nil || len(got) != len(want) {
			return false
		}
		for k, v := range want {
			if got[k] != v {
				return false
			}
		}
		return true
	})
}

func (c *testCluster) inRecovery(n *node) (bool, error) {
	v, err := c.queryInt(n, "SELECT pg_is_in_recovery()::int")
	return v == 1, err
}
