//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"syscall"
	"testing"
	"time"
)

// syncStandbys reads the members /cluster reports as sync_standby.
func (c *testCluster) syncStandbys(n *node) []string { return c.membersWithRole(n, "sync_standby") }

// membersWithRole reads the members /cluster reports with the role.
func (c *testCluster) membersWithRole(n *node, role string) []string {
	code, body := c.api(n, "GET", "/cluster", nil)
	if code != 200 {
		return nil
	}
	var cl struct {
		Members []struct{ Name, Role string } `json:"members"`
	}
	if json.Unmarshal([]byte(body), &cl) != nil {
		return nil
	}
	var out []string
	for _, m := range cl.Members {
		if m.Role == role {
			out = append(out, m.Name)
		}
	}
	return out
}

// TestSynchronousMode: with synchronous_mode on, one replica is synchronous (/sync,
// GET /sync), a failover promotes only it, synchronous_node_count 2 makes both replicas
// synchronous, and strict mode blocks writes when no standby is left.
func TestSynchronousMode(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	p := c.up(t)
	if code, body := c.api(p, "PATCH", "/config", map[string]any{"synchronous_mode": true}); code != 200 {
		t.Fatalf("enable synchronous_mode: %d %s", code, body)
	}
	var syncNode *node
	c.eventually("one synchronous standby", 30*time.Second, func() bool {
		names := c.syncStandbys(p)
		if len(names) != 1 {
			return false
		}
		for _, n := range c.nodes {
			if n.name == names[0] {
				syncNode = n
			}
		}
		return syncNode != nil && syncNode.health("/sync") == 200
	})
	for _, n := range c.others(p) {
		if n != syncNode && n.health("/sync") != 503 {
			t.Errorf("%s answers /sync although it is asynchronous", n.name)
		}
		if n != syncNode && n.health("/async") != 200 {
			t.Errorf("%s does not answer /async", n.name)
		}
	}
	for i := 1; i <= 50; i++ {
		must(t, c.exec(p, "INSERT INTO e2e_rows (id) VALUES ($1)", i))
	}

	t.Run("failover promotes the synchronous standby", func(t *testing.T) {
		c.t = t
		killed := time.Now()
		c.kill9(p)
		w, took := c.timeToWrite(killed, 51, 60*time.Second)
		t.Logf("measured: kill -9 of the primary in synchronous mode -> first write on %s after %.2fs", w.name, took.Seconds())
		if w != syncNode {
			t.Fatalf("%s was promoted, but the synchronous standby was %s", w.name, syncNode.name)
		}
		v, err := c.queryInt(w, "SELECT count(*) FROM e2e_rows WHERE id <= 50")
		must(t, err)
		if v != 50 {
			t.Fatalf("the new primary has %d of 50 acknowledged rows", v)
		}
		c.start(p)
		c.waitReplica(p, 90*time.Second)
		p = w
	})

	t.Run("two synchronous standbys", func(t *testing.T) {
		c.t = t
		if code, body := c.api(p, "PATCH", "/config", map[string]any{"synchronous_node_count": 2}); code != 200 {
			t.Fatalf("synchronous_node_count 2: %d %s", code, body)
		}
		c.eventually("two synchronous standbys", 30*time.Second, func() bool { return len(c.syncStandbys(p)) == 2 })
		list := c.patronictl("list")
		if n := countOccurrences(list, "Sync Standby"); n != 2 {
			t.Errorf("patronictl list shows %d Sync Standby rows:\n%s", n, list)
		}
	})

	t.Run("strict mode blocks writes without a standby", func(t *testing.T) {
		c.t = t
		if code, body := c.api(p, "PATCH", "/config", map[string]any{"synchronous_mode_strict": true, "synchronous_node_count": 1}); code != 200 {
			t.Fatalf("strict: %d %s", code, body)
		}
		replicas := c.others(p)
		for _, r := range replicas {
			c.stop(r)
		}
		c.eventually("the primary to wait for any standby", 30*time.Second, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			conn, err := connect(ctx, p)
			if err != nil {
				return false
			}
			defer conn.Close(context.Background())
			var names string
			return conn.QueryRow(ctx, "SHOW synchronous_standby_names").Scan(&names) == nil && names == "*"
		})
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		conn, err := connect(ctx, p)
		must(t, err)
		_, err = conn.Exec(ctx, "SET statement_timeout = 1000; INSERT INTO e2e_rows (id) VALUES (100000)")
		cancel()
		conn.Close(context.Background())
		if err == nil {
			t.Fatal("a write was acknowledged in strict synchronous mode with no standby")
		}
		for _, r := range replicas {
			c.start(r)
		}
		for _, r := range replicas {
			c.waitReplica(r, 90*time.Second)
		}
		c.eventually("writes to resume once a standby is back", 60*time.Second, func() bool {
			return c.exec(p, "INSERT INTO e2e_rows (id) VALUES ($1)", 100001+int(time.Now().UnixNano()%1000000)) == nil
		})
	})
}

func countOccurrences(s, sub string) int {
	n := 0
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			n++
		}
	}
	return n
}

// TestSyncNamesSurviveAgentRestart: the primary's agent is killed (PostgreSQL keeps
// running) and started again; the new agent must not write postgresql.conf without the
// synchronous_standby_names synchronous mode had set, or commits turn asynchronous while
// /sync still names a standby that may be promoted.
func TestSyncNamesSurviveAgentRestart(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	p := c.up(t)
	if code, body := c.api(p, "PATCH", "/config", map[string]any{"synchronous_mode": true}); code != 200 {
		t.Fatalf("synchronous_mode: %d %s", code, body)
	}
	c.eventually("a synchronous standby", 30*time.Second, func() bool { return len(c.syncStandbys(p)) == 1 })
	show := func() (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn, err := connect(ctx, p)
		if err != nil {
			return "", err
		}
		defer conn.Close(context.Background())
		var v string
		err = conn.QueryRow(ctx, "SHOW synchronous_standby_names").Scan(&v)
		return v, err
	}
	before, err := show()
	if err != nil || before == "" {
		t.Fatalf("synchronous_standby_names before: %q, %v", before, err)
	}
	pid := p.agentPid()
	must(t, syscall.Kill(pid, syscall.SIGKILL))
	c.eventually("the killed agent to be gone", 10*time.Second, func() bool { return !alive(pid) })
	c.start(p)
	// The old agent's fencing process stops PostgreSQL once the lease can no longer be
	// trusted (ttl - retry_timeout/2 after the last refresh); watch until then.
	var seen int
	for end := time.Now().Add(2500 * time.Millisecond); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		v, err := show()
		if err != nil {
			break
		}
		seen++
		if v != before {
			t.Fatalf("synchronous_standby_names changed from %q to %q after the agent restarted", before, v)
		}
	}
	if seen < 10 {
		t.Fatalf("PostgreSQL answered only %d times after the agent restarted", seen)
	}
	if !c.logContains(p, "keeping synchronous_standby_names of the running primary") {
		t.Errorf("the restarted agent did not say it kept the running value")
	}
}

// TestSyncPriority (Patroni 4.1's sync_priority tag): with synchronous_mode on, a member
// with a higher sync_priority replaces the synchronous standby chosen before it came up.
func TestSyncPriority(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	leader, low, high := c.nodes[0], c.nodes[1], c.nodes[2]
	c.startTagged(high, "sync_priority: 10", leader)
	c.start(low)
	c.waitReplica(low, 60*time.Second)
	if code, body := c.api(leader, "PATCH", "/config", map[string]any{"synchronous_mode": true}); code != 200 {
		t.Fatalf("enable synchronous_mode: %d %s", code, body)
	}
	c.eventually(low.name+" synchronous", 30*time.Second, func() bool {
		names := c.syncStandbys(leader)
		return len(names) == 1 && names[0] == low.name
	})
	began := time.Now()
	c.start(high)
	c.waitReplica(high, 60*time.Second)
	c.eventually(high.name+" (sync_priority 10) replacing "+low.name, 30*time.Second, func() bool {
		names := c.syncStandbys(leader)
		return len(names) == 1 && names[0] == high.name && high.health("/sync") == 200
	})
	t.Logf("measured: start of %s with sync_priority 10 -> it is the synchronous standby after %.2fs", high.name, time.Since(began).Seconds())
	if v := c.syncNames(leader); v != `"`+high.name+`"` {
		t.Errorf("synchronous_standby_names = %q, want %q", v, high.name)
	}
}
