//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// hangTimeout is primary_hang_timeout in these tests.
const hangTimeout = 8

// hungTimings leave room for a health query that runs into its 2 s deadline every
// cycle: with ttl 5 and retry_timeout 2 such a cycle refreshes the lease too late and
// the fence, not the hang rule, stops PostgreSQL.
var hungTimings = timings{ttl: 8, loopWait: 1, retryTimeout: 2, primaryStartTimeout: 300}

// TestHungPrimaryFailsOver: SIGSTOP of the primary's postmaster and every backend (the
// agent keeps running). Patroni keeps the lock "while PostgreSQL is starting up"
// forever; Warden stops the silent server after primary_hang_timeout and releases the
// lock, a replica is promoted, and the old server never acknowledges a write again,
// not even after SIGCONT.
func TestHungPrimaryFailsOver(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), hungTimings)
	c.bootstrapDCS = fmt.Sprintf("    primary_hang_timeout: %d\n", hangTimeout)
	c.writeConfigs(hungTimings)
	p := c.up(t)
	c.eventually("a first write", 30*time.Second, func() bool { return c.exec(p, "INSERT INTO e2e_rows (id) VALUES (1)") == nil })

	pm := p.postmasterPid()
	frozen := freeze(t, pm)
	stoppedAt := time.Now()
	t.Logf("SIGSTOP of %s's postmaster %d and %d backends", p.name, pm, len(frozen)-1)
	defer thaw(frozen)

	var oldWrites atomic.Int32
	stopOld := make(chan struct{})
	oldDone := make(chan struct{})
	go func() {
		defer close(oldDone)
		for id := 1_000_000; ; id++ {
			select {
			case <-stopOld:
				return
			default:
			}
			if c.exec(p, "INSERT INTO e2e_rows (id) VALUES ($1)", id) == nil {
				oldWrites.Add(1)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()

	var newPrimary *node
	id := 2
	bound := time.Duration(hangTimeout)*time.Second + 30*time.Second
	c.eventually("a write on another node", bound, func() bool {
		for _, n := range c.others(p) {
			if c.exec(n, "INSERT INTO e2e_rows (id) VALUES ($1)", id) == nil {
				newPrimary = n
				return true
			}
			id++
		}
		return false
	})
	failover := time.Since(stoppedAt)
	t.Logf("measured: SIGSTOP of the primary's PostgreSQL -> first write on %s after %.1fs (primary_hang_timeout=%ds ttl=%d loop_wait=%d)",
		newPrimary.name, failover.Seconds(), hangTimeout, hungTimings.ttl, hungTimings.loopWait)
	c.eventually(p.name+"'s log saying what was observed", 20*time.Second, func() bool {
		return c.logContains(p, "the running postmaster has answered no query for")
	})

	thaw(frozen)
	resumed := time.Now()
	c.eventually("every old process gone after SIGCONT", 20*time.Second, func() bool {
		for _, pid := range frozen {
			if alive(pid) {
				return false
			}
		}
		return true
	})
	// Keep trying the old node while it restarts as a replica.
	c.waitReplica(p, 90*time.Second)
	for time.Since(resumed) < 3*time.Second {
		time.Sleep(100 * time.Millisecond)
	}
	close(stopOld)
	<-oldDone
	if n := oldWrites.Load(); n > 0 {
		t.Fatalf("split brain: the hung primary acknowledged %d writes after SIGSTOP", n)
	}
}

// TestFrozenNodeIsFenced: SIGSTOP of the primary's agent, postmaster and every backend
// (only the fencing process runs). The fence must kill the backends too: they call
// setsid(), so a kill of the postmaster's process group misses them, and stopped
// backends left attached to the shared memory would keep a restarted postmaster from
// starting (the agent then holds the lock through start-primary: no failover).
func TestFrozenNodeIsFenced(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), hungTimings)
	p := c.up(t)
	agent := p.agentPid()
	must(t, syscall.Kill(agent, syscall.SIGSTOP))
	defer func() { _ = syscall.Kill(agent, syscall.SIGCONT) }()
	frozen := freeze(t, p.postmasterPid())
	defer thaw(frozen)
	start := time.Now()
	c.eventually("every frozen PostgreSQL process killed by the fence", time.Duration(hungTimings.ttl)*time.Second+10*time.Second, func() bool {
		for _, pid := range frozen {
			if alive(pid) {
				return false
			}
		}
		return true
	})
	fenced := time.Since(start)
	n, took := c.timeToWrite(start, 1, 60*time.Second)
	t.Logf("measured: node frozen -> its %d PostgreSQL processes killed after %.1fs, first write on %s after %.1fs (ttl=%d)",
		len(frozen), fenced.Seconds(), n.name, took.Seconds(), hungTimings.ttl)
	if n == p {
		t.Fatalf("the frozen node took writes")
	}
	must(t, syscall.Kill(agent, syscall.SIGCONT))
	c.waitReplica(p, 90*time.Second)
}

// TestSaturatedPrimaryKeepsLock: every connection a non-superuser can get is busy for a
// minute (bulk inserts and checkpoints on a few, the rest sleeping in queries), and the
// agent's own connection is cut every 5 s: the health query, which connects as the
// superuser within the reserved connections, still gets answers, and the primary keeps
// the lock with primary_hang_timeout as short as in TestHungPrimaryFailsOver.
func TestSaturatedPrimaryKeepsLock(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), hungTimings)
	c.bootstrapDCS = fmt.Sprintf("    primary_hang_timeout: %d\n", hangTimeout)
	c.writeConfigs(hungTimings)
	p := c.up(t)
	c.eventually("the load role", 30*time.Second, func() bool {
		return c.exec(p, "CREATE ROLE loader LOGIN PASSWORD 'loadpw'; GRANT pg_checkpoint TO loader; CREATE TABLE load (id int, pad text); GRANT ALL ON load TO loader") == nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conns := openAll(t, ctx, p)
	t.Logf("%d non-superuser connections open; the next one was refused", len(conns))

	const load = time.Minute
	var wg sync.WaitGroup
	var queries atomic.Int64
	until := time.Now().Add(load)
	for i, cn := range conns {
		wg.Add(1)
		go func(i int, cn *pgx.Conn) {
			defer wg.Done()
			defer cn.Close(context.Background())
			for time.Now().Before(until) && ctx.Err() == nil {
				var err error
				switch {
				case i < 3:
					_, err = cn.Exec(ctx, "INSERT INTO load SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g")
				case i == 3:
					_, err = cn.Exec(ctx, "CHECKPOINT")
				default:
					_, err = cn.Exec(ctx, "SELECT pg_sleep(1)")
				}
				if err != nil {
					return
				}
				queries.Add(1)
			}
		}(i, cn)
	}
	// The agent's health query connection is cut every few seconds, so it must connect
	// anew while the server is full: through the superuser's reserved connections.
	cuts := 0
	for next := time.Now(); time.Now().Before(until); time.Sleep(500 * time.Millisecond) {
		if pr := c.primary(); pr != p {
			t.Fatalf("the primary changed under load: %v", pr)
		}
		if time.Now().After(next) {
			if v, err := c.queryInt(p, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'Warden'"); err == nil && v > 0 {
				cuts++
			}
			next = time.Now().Add(5 * time.Second)
		}
	}
	if cuts == 0 {
		t.Fatal("the agent's connection was never cut under load")
	}
	cancel()
	wg.Wait()
	t.Logf("measured: %d load queries in %s on %d connections, the agent's connection cut %d times; no failover", queries.Load(), load, len(conns), cuts)
	if c.logContains(p, "has answered no query for") {
		t.Errorf("the busy primary gave up its lock")
	}
	if c.logContains(p, "PostgreSQL gave no answer to the health query") {
		t.Logf("note: a health query timed out once under load")
	}
}

// openAll opens non-superuser connections until PostgreSQL refuses one.
func openAll(t *testing.T, ctx context.Context, n *node) []*pgx.Conn {
	t.Helper()
	var conns []*pgx.Conn
	for range 1000 {
		cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=loader password=loadpw dbname=postgres connect_timeout=5", n.host, n.pgPort))
		must(t, err)
		cn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "53300" {
				return conns
			}
			t.Fatalf("connection %d: %v", len(conns)+1, err)
		}
		conns = append(conns, cn)
	}
	t.Fatal("PostgreSQL never refused a connection")
	return nil
}

// freeze SIGSTOPs a postmaster, then each of its children (backends call setsid(), so
// no process group holds them all), and returns every PID it stopped.
func freeze(t *testing.T, pm int) []int {
	t.Helper()
	if pm <= 0 {
		t.Fatal("no postmaster pid")
	}
	must(t, syscall.Kill(pm, syscall.SIGSTOP))
	pids := []int{pm}
	for _, c := range childPids(pm) {
		if syscall.Kill(c, syscall.SIGSTOP) == nil {
			pids = append(pids, c)
		}
	}
	return pids
}

func thaw(pids []int) {
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGCONT)
	}
}

// childPids lists the processes whose parent is pid.
func childPids(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, c)
		}
	}
	return out
}
