//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// etcdCluster is a 3-member Debian etcd 3.4 cluster on loopback, as every seed
// deployment runs; the agents are given all endpoints.
type etcdCluster struct {
	t       *testing.T
	members []*etcdProcess
}

func startDebianEtcdCluster(t *testing.T) *etcdCluster {
	t.Helper()
	const n = 3
	clients, peers := make([]int, n), make([]int, n)
	initial := make([]string, n)
	for i := range n {
		clients[i], peers[i] = freePort(t), freePort(t)
		initial[i] = fmt.Sprintf("m%d=http://127.0.0.1:%d", i+1, peers[i])
	}
	ec := &etcdCluster{t: t}
	for i := range n {
		ec.members = append(ec.members, runEtcdMember(t, fmt.Sprintf("m%d", i+1), "127.0.0.1", clients[i], strings.Join(initial, ","), peers[i], exec.Command))
	}
	ec.waitHealthy(60 * time.Second)
	return ec
}

func (ec *etcdCluster) endpoints() []string {
	var out []string
	for _, m := range ec.members {
		out = append(out, m.endpoints...)
	}
	return out
}

func (ec *etcdCluster) etcdctl(timeout time.Duration, endpoints []string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args = append([]string{"--endpoints=" + strings.Join(endpoints, ","), "--command-timeout=2s", "--dial-timeout=1s"}, args...)
	cmd := exec.CommandContext(ctx, "etcdctl", args...)
	cmd.Env = []string{"ETCDCTL_API=3", "PATH=/usr/bin:/bin"}
	return cmd.Output()
}

// waitHealthy waits until every member answers a linearizable read.
func (ec *etcdCluster) waitHealthy(timeout time.Duration) {
	ec.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		healthy := true
		for _, m := range ec.members {
			if _, err := ec.etcdctl(5*time.Second, m.endpoints, "endpoint", "health"); err != nil {
				healthy = false
				break
			}
		}
		if healthy {
			return
		}
		if time.Now().After(deadline) {
			ec.t.Fatalf("etcd cluster not healthy within %s", timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// leader returns the index of the raft leader member.
func (ec *etcdCluster) leader() int {
	ec.t.Helper()
	out, err := ec.etcdctl(10*time.Second, ec.endpoints(), "endpoint", "status", "-w", "json")
	if err != nil {
		ec.t.Fatalf("etcdctl endpoint status: %v", err)
	}
	var st []struct {
		Endpoint string
		Status   struct {
			Header struct {
				MemberID uint64 `json:"member_id"`
			} `json:"header"`
			Leader uint64 `json:"leader"`
		}
	}
	must(ec.t, json.Unmarshal(out, &st))
	for _, s := range st {
		if s.Status.Header.MemberID == s.Status.Leader {
			for i, m := range ec.members {
				if m.endpoints[0] == s.Endpoint {
					return i
				}
			}
		}
	}
	ec.t.Fatalf("no etcd leader in %s", out)
	return -1
}

// term stops a member with SIGTERM (a leader hands its leadership over first).
func (e *etcdProcess) term() {
	e.mu.Lock()
	cmd, done := e.cmd, e.done
	e.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		e.kill()
	}
}

// TestEtcdClusterFaults runs a cluster against a 3-member etcd and injects the faults a
// real etcd deployment sees. While quorum holds (a follower or the leader killed, a
// rolling restart) the primary is never demoted and writes never pause beyond a second;
// while quorum is lost the cluster behaves as under a DCS outage (TestDCSOutage) and
// recovers by itself.
func TestEtcdClusterFaults(t *testing.T) {
	tm := timings{ttl: 8, loopWait: 1, retryTimeout: 2, primaryStartTimeout: 300}
	ec := startDebianEtcdCluster(t)
	c := newCluster(t, ec.endpoints(), tm)
	p := c.up(t)
	nextID := 1

	quorumHolds := func(t *testing.T, what string, fault func()) {
		c.t = t
		nextID = c.keepsPrimary(p, tm, nextID, what, fault)
		ec.waitHealthy(60 * time.Second)
	}

	t.Run("kill -9 of a follower member", func(t *testing.T) {
		f := (ec.leader() + 1) % len(ec.members)
		quorumHolds(t, "kill -9 of an etcd follower", func() {
			ec.members[f].kill()
			time.Sleep(time.Duration(tm.ttl) * time.Second)
			ec.members[f].start()
		})
	})
	t.Run("kill -9 of the leader member", func(t *testing.T) {
		l := ec.leader()
		quorumHolds(t, "kill -9 of the etcd leader", func() {
			ec.members[l].kill()
			time.Sleep(time.Duration(tm.ttl) * time.Second)
			ec.members[l].start()
		})
	})
	t.Run("rolling restart", func(t *testing.T) {
		quorumHolds(t, "a rolling restart of every etcd member", func() {
			for _, m := range ec.members {
				m.term()
				m.start()
				ec.waitHealthy(60 * time.Second)
			}
		})
	})
	t.Run("quorum lost for 2 ttl", func(t *testing.T) {
		c.t = t
		l := ec.leader()
		down := []*etcdProcess{ec.members[l], ec.members[(l+1)%len(ec.members)]}
		for _, m := range down {
			m.kill()
		}
		lost := time.Now()
		var readOnlyAfter time.Duration
		for id := nextID; time.Since(lost) < time.Duration(tm.ttl+4)*time.Second; id++ {
			if err := c.exec(p, "INSERT INTO e2e_rows (id) VALUES ($1)", id); err != nil {
				readOnlyAfter = time.Since(lost)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		nextID += 10_000
		if readOnlyAfter == 0 {
			t.Fatalf("the primary still accepted writes %ds after etcd lost quorum (ttl %d)", tm.ttl+4, tm.ttl)
		}
		t.Logf("measured: primary stopped accepting writes %.2fs after etcd lost quorum (ttl=%d retry_timeout=%d)", readOnlyAfter.Seconds(), tm.ttl, tm.retryTimeout)
		if readOnlyAfter >= time.Duration(tm.ttl)*time.Second {
			t.Errorf("writes stopped after %s, not before the lease (ttl %ds) could expire", readOnlyAfter, tm.ttl)
		}
		for time.Since(lost) < 2*time.Duration(tm.ttl)*time.Second {
			for _, n := range c.nodes {
				if n.health("/primary") == 200 {
					t.Fatalf("%s claims to be primary while etcd has no quorum", n.name)
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
		back := time.Now()
		for _, m := range down {
			m.start()
		}
		w, took := c.timeToWrite(back, nextID, 90*time.Second)
		nextID++
		t.Logf("measured: etcd quorum back -> first write on %s after %.2fs", w.name, took.Seconds())
		for _, n := range c.others(w) {
			c.waitReplica(n, 90*time.Second)
		}
	})
}

// keepsPrimary runs fault with the write prober on for at least 2 ttl and checks that p
// stayed the primary, nobody demoted itself or was fenced, and writes never paused
// beyond a second. It
// returns the next free row id.
func (c *testCluster) keepsPrimary(p *node, tm timings, nextID int, what string, fault func()) int {
	t := c.t
	t.Helper()
	pr := c.startProber(nextID)
	start := time.Now()
	fault()
	for time.Since(start) < 2*time.Duration(tm.ttl)*time.Second {
		time.Sleep(100 * time.Millisecond)
	}
	acks, gap := pr.finish()
	t.Logf("measured: %s -> %d writes, longest write gap %dms", what, len(acks), gap.Milliseconds())
	if got := c.primary(); got != p {
		t.Fatalf("the primary changed during %s: %v", what, got)
	}
	for _, n := range c.nodes {
		if c.logContains(n, "demoted self") || c.logContains(n, "demoting self") {
			t.Errorf("%s demoted itself during %s", n.name, what)
		}
		if c.logContains(n, "fence deadline passed") {
			t.Errorf("%s's fence stopped PostgreSQL during %s", n.name, what)
		}
	}
	if gap > time.Second {
		t.Errorf("writes paused %s during %s, want at most 1s", gap, what)
	}
	return nextID + len(acks) + 1
}

// TestEtcdMemberPartitionedFromPrimary: a 3-member etcd, each member and each node in
// its own network namespace; one etcd member is cut off from the primary only (it still
// reaches its peers, the replicas reach it). The primary's client must go on through the
// other members: no demotion, no write gap beyond a second.
func TestEtcdMemberPartitionedFromPrimary(t *testing.T) {
	tm := timings{ttl: 8, loopWait: 1, retryTimeout: 2, primaryStartTimeout: 300}
	l := newNetLab(t)
	var nss, addrs, initial []string
	for i := range 3 {
		ns, addr := l.namespace(etcdHost + i)
		nss, addrs = append(nss, ns), append(addrs, addr)
		initial = append(initial, fmt.Sprintf("m%d=http://%s:2380", i+1, addr))
	}
	ec := &etcdCluster{t: t}
	for i := range 3 {
		ec.members = append(ec.members, runEtcdMember(t, fmt.Sprintf("m%d", i+1), addrs[i], 2379, strings.Join(initial, ","), 2380, l.commandIn(nss[i])))
	}
	ec.waitHealthy(60 * time.Second)
	c := newClusterInLab(t, l, ec.endpoints(), tm)
	p := c.up(t)
	for _, k := range []int{ec.leader(), (ec.leader() + 1) % 3} {
		role := "follower"
		if k == ec.leader() {
			role = "leader"
		}
		t.Run("from the etcd "+role, func(t *testing.T) {
			c.t = t
			what := fmt.Sprintf("etcd %s member m%d cut off from the primary %s", role, k+1, p.name)
			c.keepsPrimary(p, tm, 1+k*100_000, what, func() { l.cut(p.ns, p.host, nss[k], addrs[k]) })
			l.healAll()
			ec.waitHealthy(60 * time.Second)
		})
	}
}
