//go:build e2e

package e2e

import (
	"syscall"
	"testing"
	"time"
)

// TestPrimaryStartTimeout: the primary's postmaster crashes and the restarted one never
// becomes ready (it is frozen with SIGSTOP); the agent keeps the lock for
// primary_start_timeout, then stops PostgreSQL, gives the lock up, and a replica takes over.
func TestPrimaryStartTimeout(t *testing.T) {
	tm := fast
	tm.primaryStartTimeout = 3
	c := newCluster(t, startEmbeddedEtcd(t), tm)
	for _, n := range c.nodes {
		c.start(n)
	}
	p := c.waitPrimary(60 * time.Second)
	for _, n := range c.others(p) {
		c.waitReplica(n, 60*time.Second)
	}
	must(t, c.exec(p, "CREATE TABLE e2e_rows (id int PRIMARY KEY)"))

	old := p.postmasterPid()
	must(t, killGroup(old))
	// Freeze the restarted postmaster the moment it appears, before it is ready.
	var frozen int
	deadline := time.Now().Add(30 * time.Second)
	for frozen == 0 && time.Now().Before(deadline) {
		if pid := p.postmasterPid(); pid != 0 && pid != old && alive(pid) {
			if syscall.Kill(pid, syscall.SIGSTOP) == nil {
				frozen = pid
			}
		}
		time.Sleep(time.Millisecond)
	}
	if frozen == 0 {
		t.Fatal("the agent did not restart the crashed postmaster")
	}
	crashed := time.Now()
	t.Cleanup(func() { _ = syscall.Kill(frozen, syscall.SIGCONT) })
	if c.primary() == p && p.health("/primary") == 200 {
		// The lock is kept while the restart is within primary_start_timeout.
		t.Logf("%s still holds the lock while its postmaster starts", p.name)
	}
	w, took := c.timeToWrite(crashed, 1, 60*time.Second)
	if w == p {
		t.Fatalf("writes resumed on the frozen node %s", p.name)
	}
	if took < 3*time.Second {
		t.Errorf("failover after %s, before primary_start_timeout (3s) ran out", took)
	}
	t.Logf("measured: postmaster frozen while restarting -> first write on %s after %.2fs (primary_start_timeout=3)", w.name, took.Seconds())
	c.eventually("Patroni's startup-timeout line in the old primary's log", 10*time.Second, func() bool {
		return c.logContains(p, "stopped PostgreSQL because of startup timeout")
	})
	if c.logContains(p, "failed=release-leader") {
		t.Error("the old primary could not release the leader key: the lease ran out first")
	}
	c.waitReplica(p, 90*time.Second)
}
