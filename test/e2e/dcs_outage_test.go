//go:build e2e

package e2e

import (
	"syscall"
	"testing"
	"time"
)

// TestDCSOutage freezes etcd (SIGSTOP). A short freeze, shorter than the lease can be
// trusted (ttl - retry_timeout after the last refresh), leaves the primary alone. A long
// one makes the primary stop taking writes before its lease could expire, so no second
// primary can appear; when etcd returns, the cluster recovers by itself.
func TestDCSOutage(t *testing.T) {
	tm := timings{ttl: 8, loopWait: 1, retryTimeout: 2, primaryStartTimeout: 300}
	endpoints, etcdPid := startDebianEtcdProcess(t)
	c := newCluster(t, endpoints, tm)
	for _, n := range c.nodes {
		c.start(n)
	}
	p := c.waitPrimary(60 * time.Second)
	for _, n := range c.others(p) {
		c.waitReplica(n, 60*time.Second)
	}
	must(t, c.exec(p, "CREATE TABLE e2e_rows (id int PRIMARY KEY)"))

	t.Run("short freeze: no demotion", func(t *testing.T) {
		c.t = t
		must(t, syscall.Kill(etcdPid, syscall.SIGSTOP))
		frozen := time.Now()
		id := 1000
		for time.Since(frozen) < 3*time.Second {
			id++
			if err := c.exec(p, "INSERT INTO e2e_rows (id) VALUES ($1)", id); err != nil {
				_ = syscall.Kill(etcdPid, syscall.SIGCONT)
				t.Fatalf("write refused %.1fs into a 3s etcd freeze: %v", time.Since(frozen).Seconds(), err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		must(t, syscall.Kill(etcdPid, syscall.SIGCONT))
		c.eventually("the primary to answer /primary again", 10*time.Second, func() bool { return p.health("/primary") == 200 })
		if c.primary() != p {
			t.Fatal("the primary changed after a short etcd freeze")
		}
	})

	t.Run("long freeze: primary stops writes before the lease expires", func(t *testing.T) {
		c.t = t
		must(t, syscall.Kill(etcdPid, syscall.SIGSTOP))
		frozen := time.Now()
		var readOnlyAfter time.Duration
		for id := 2000; time.Since(frozen) < time.Duration(tm.ttl+4)*time.Second; id++ {
			if err := c.exec(p, "INSERT INTO e2e_rows (id) VALUES ($1)", id); err != nil {
				readOnlyAfter = time.Since(frozen)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if readOnlyAfter == 0 {
			_ = syscall.Kill(etcdPid, syscall.SIGCONT)
			t.Fatalf("the primary still accepted writes %ds into an etcd outage (ttl %d)", tm.ttl+4, tm.ttl)
		}
		t.Logf("measured: primary stopped accepting writes %.2fs after etcd froze (ttl=%d retry_timeout=%d: the lease runs at least %ds)",
			readOnlyAfter.Seconds(), tm.ttl, tm.retryTimeout, tm.ttl)
		if readOnlyAfter >= time.Duration(tm.ttl)*time.Second {
			t.Errorf("writes stopped after %s, not before the lease (ttl %ds) could expire", readOnlyAfter, tm.ttl)
		}
		for _, n := range c.nodes {
			if n.health("/primary") == 200 {
				t.Errorf("%s claims to be primary while etcd is down", n.name)
			}
		}
		time.Sleep(time.Duration(tm.ttl) * time.Second)
		resumed := time.Now()
		must(t, syscall.Kill(etcdPid, syscall.SIGCONT))
		w, took := c.timeToWrite(resumed, 1, 60*time.Second)
		t.Logf("measured: etcd back -> first write on %s after %.2fs", w.name, took.Seconds())
		for _, n := range c.others(w) {
			c.waitReplica(n, 90*time.Second)
		}
	})
}
