//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLifecycle walks the scenario on one cluster with the embedded etcd:
// bootstrap, replicas, primary death, rejoin with pg_rewind, graceful stop, postmaster
// crashes, and a full restart in another order.
func TestLifecycle(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	rows := 0

	t.Run("bootstrap", func(t *testing.T) {
		c.t = t
		begin := time.Now()
		c.start(n1)
		if p := c.waitPrimary(60 * time.Second); p != n1 {
			t.Fatalf("primary is %s, want %s", p.name, n1.name)
		}
		c.start(n2)
		c.start(n3)
		c.waitReplica(n2, 60*time.Second)
		c.waitReplica(n3, 60*time.Second)
		t.Logf("measured: bootstrap of leader + 2 streaming replicas in %.2fs", time.Since(begin).Seconds())
		must(t, c.exec(n1, "CREATE TABLE e2e_rows (id int PRIMARY KEY)"))
		slots, err := c.queryInt(n1, "SELECT count(*) FROM pg_replication_slots WHERE slot_name IN ('pg_2','pg_3') AND active")
		must(t, err)
		if slots != 2 {
			t.Fatalf("active member slots on the leader = %d, want 2", slots)
		}
		if !c.logContains(n1, "no action. I am (pg-1), the leader with the lock") {
			t.Error("leader did not log Patroni's steady-state line")
		}
		if !c.logContains(n2, "no action. I am (pg-2), a secondary, and following a leader (pg-1)") {
			t.Error("replica did not log Patroni's steady-state line")
		}
	})

	t.Run("primary killed", func(t *testing.T) {
		c.t = t
		old := c.waitPrimary(10 * time.Second)
		for i := 0; i < 100; i++ {
			rows++
			must(t, c.exec(old, "INSERT INTO e2e_rows (id) VALUES ($1)", rows))
		}
		// Let the replicas receive the last rows (asynchronous replication).
		for _, n := range c.others(old) {
			c.eventually(n.name+" to replay the rows", 10*time.Second, func() bool {
				v, err := c.queryInt(n, "SELECT count(*) FROM e2e_rows")
				return err == nil && v == int64(rows)
			})
		}
		killed := time.Now()
		c.kill9(old)
		rows++
		p, took := c.timeToWrite(killed, rows, 60*time.Second)
		t.Logf("measured: kill -9 of primary agent+postmaster -> first write on %s after %.2fs (ttl=%d loop_wait=%d retry_timeout=%d)",
			p.name, took.Seconds(), fast.ttl, fast.loopWait, fast.retryTimeout)
		for _, n := range c.others(old) {
			if n != p {
				c.waitReplica(n, 30*time.Second)
			}
		}
		// The old primary comes back and rejoins on the new timeline.
		c.start(old)
		c.waitReplica(old, 90*time.Second)
		if !c.logContains(old, "running pg_rewind from "+p.name) {
			t.Errorf("%s rejoined without pg_rewind", old.name)
		}
		tl := func(n *node) any { return n.status()["timeline"] }
		c.eventually("the old primary on the new timeline", 30*time.Second, func() bool { return fmt.Sprint(tl(old)) == fmt.Sprint(tl(p)) })
		c.eventually("all rows on the rejoined node", 30*time.Second, func() bool {
			v, err := c.queryInt(old, "SELECT count(*) FROM e2e_rows")
			return err == nil && v == int64(rows)
		})
	})

	t.Run("graceful stop of the primary", func(t *testing.T) {
		c.t = t
		old := c.waitPrimary(10 * time.Second)
		for _, n := range c.others(old) {
			c.waitReplica(n, 30*time.Second)
		}
		for i := 0; i < 50; i++ {
			rows++
			must(t, c.exec(old, "INSERT INTO e2e_rows (id) VALUES ($1)", rows))
		}
		stopped := time.Now()
		c.stop(old)
		rows++
		p, took := c.timeToWrite(stopped, rows, 30*time.Second)
		t.Logf("measured: SIGTERM of primary agent -> first write on %s after %.2fs (ttl=%d loop_wait=%d retry_timeout=%d)",
			p.name, took.Seconds(), fast.ttl, fast.loopWait, fast.retryTimeout)
		if took > time.Duration(fast.ttl)*time.Second {
			t.Errorf("takeover took %s, longer than ttl: the leader key was not released", took)
		}
		v, err := c.queryInt(p, "SELECT count(*) FROM e2e_rows")
		must(t, err)
		if v != int64(rows) {
			t.Fatalf("rows on the new primary = %d, want %d: acknowledged writes were lost", v, rows)
		}
		c.start(old)
		c.waitReplica(old, 90*time.Second)
	})

	t.Run("postmaster crash on a replica", func(t *testing.T) {
		c.t = t
		p := c.waitPrimary(10 * time.Second)
		r := c.others(p)[0]
		c.waitReplica(r, 30*time.Second)
		pm := r.postmasterPid()
		must(t, killGroup(pm))
		c.eventually("a new postmaster on "+r.name, 30*time.Second, func() bool {
			np := r.postmasterPid()
			return np != 0 && np != pm && alive(np)
		})
		c.waitReplica(r, 30*time.Second)
		if c.primary() != p {
			t.Fatal("the primary changed after a replica crash")
		}
	})

	t.Run("postmaster crash on the primary", func(t *testing.T) {
		c.t = t
		p := c.waitPrimary(10 * time.Second)
		pm := p.postmasterPid()
		crashed := time.Now()
		must(t, killGroup(pm))
		rows++
		w, took := c.timeToWrite(crashed, rows, 60*time.Second)
		t.Logf("measured: kill -9 of the primary's postmaster -> first write on %s after %.2fs", w.name, took.Seconds())
		if w != p {
			t.Fatalf("writes resumed on %s, want the crashed primary %s to keep the lock", w.name, p.name)
		}
		if !c.logContains(p, "starting primary after failure") {
			t.Error("the primary did not log Patroni's restart line")
		}
		for _, n := range c.others(p) {
			c.waitReplica(n, 30*time.Second)
		}
	})

	t.Run("full restart in another order", func(t *testing.T) {
		c.t = t
		p := c.waitPrimary(10 * time.Second)
		for _, n := range c.others(p) {
			c.waitReplica(n, 30*time.Second)
			c.eventually(n.name+" to replay the rows", 10*time.Second, func() bool {
				v, err := c.queryInt(n, "SELECT count(*) FROM e2e_rows")
				return err == nil && v == int64(rows)
			})
		}
		// Replicas first, then the primary; start again in the reverse order of names.
		for _, n := range append(c.others(p), p) {
			c.stop(n)
		}
		for _, n := range []*node{n3, n2, n1} {
			c.start(n)
		}
		np := c.waitPrimary(60 * time.Second)
		for _, n := range c.others(np) {
			c.waitReplica(n, 90*time.Second)
		}
		v, err := c.queryInt(np, "SELECT count(*) FROM e2e_rows")
		must(t, err)
		if v != int64(rows) {
			t.Fatalf("rows after the restart = %d, want %d", v, rows)
		}
	})

	t.Run("no secret in logs or API", func(t *testing.T) {
		c.t = t
		for _, n := range c.nodes {
			b, err := os.ReadFile(n.logPath)
			must(t, err)
			for _, secret := range []string{superPassword, replPassword, rewindPass} {
				if strings.Contains(string(b), secret) {
					t.Errorf("%s's log contains a password", n.name)
				}
			}
			for _, path := range []string{"/patroni", "/cluster", "/config"} {
				body := fmt.Sprint(getBody(n, path))
				for _, secret := range []string{superPassword, replPassword, rewindPass} {
					if strings.Contains(body, secret) {
						t.Errorf("%s %s contains a password", n.name, path)
					}
				}
			}
			info, err := os.Stat(filepath.Join(n.dir, "pgpass"))
			must(t, err)
			if info.Mode().Perm() != 0o600 {
				t.Errorf("%s pgpass mode = %v, want 0600", n.name, info.Mode().Perm())
			}
		}
	})
}
