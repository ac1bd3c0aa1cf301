//go:build e2e

package e2e

import (
	"syscall"
	"testing"
	"time"
)

// TestFrozenAgentIsFenced: SIGSTOP of the primary's agent. Without a watchdog device a
// frozen Patroni leaves a writable primary behind while another node is promoted; the
// fencing process stops PostgreSQL first, so the old primary's last accepted write
// comes before the new primary's first.
func TestFrozenAgentIsFenced(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	p := c.up(t)
	n := freezePrimaryAgent(t, c, p, 1)
	// The same agent frozen again after its fence fired once: the fence still guards the
	// new postmaster.
	c.eventually("a switchover back to "+p.name, 30*time.Second, func() bool {
		code, _ := c.api(n, "POST", "/switchover", map[string]any{"leader": n.name, "candidate": p.name})
		return code == 200
	})
	c.eventually(p.name+" primary again", 30*time.Second, func() bool { return p.health("/primary") == 200 })
	freezePrimaryAgent(t, c, p, 1_000_000)
}

// freezePrimaryAgent SIGSTOPs p's agent, checks that p's last accepted write comes
// before the new primary's first, resumes the agent and returns the new primary.
func freezePrimaryAgent(t *testing.T, c *testCluster, p *node, id int) *node {
	t.Helper()
	pid := p.agentPid()
	must(t, syscall.Kill(pid, syscall.SIGSTOP))
	frozen := time.Now()
	resumed := false
	defer func() {
		if !resumed {
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}()

	var lastOld, firstNew time.Time
	var newPrimary *node
	for time.Since(frozen) < 40*time.Second {
		if c.exec(p, "INSERT INTO e2e_rows (id) VALUES ($1)", id) == nil {
			lastOld = time.Now()
		}
		id++
		for _, n := range c.others(p) {
			if c.exec(n, "INSERT INTO e2e_rows (id) VALUES ($1)", id) == nil {
				if firstNew.IsZero() {
					firstNew, newPrimary = time.Now(), n
				}
			}
			id++
		}
		if !firstNew.IsZero() && time.Since(firstNew) > 2*time.Second {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if firstNew.IsZero() {
		t.Fatal("no other node accepted writes while the primary's agent was frozen")
	}
	t.Logf("measured: SIGSTOP of the primary's agent -> old primary's last write %.2fs, new primary %s's first write %.2fs after the freeze (ttl=%d loop_wait=%d retry_timeout=%d)",
		lastOld.Sub(frozen).Seconds(), newPrimary.name, firstNew.Sub(frozen).Seconds(), fast.ttl, fast.loopWait, fast.retryTimeout)
	if !lastOld.Before(firstNew) {
		t.Fatalf("split brain: the frozen node accepted writes %.3fs after the new primary's first", lastOld.Sub(firstNew).Seconds())
	}
	must(t, syscall.Kill(pid, syscall.SIGCONT))
	resumed = true
	c.waitReplica(p, 90*time.Second)
	return newPrimary
}
