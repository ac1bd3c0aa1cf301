//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rejoinTimings: a loop_wait long enough that a wasted loop shows in the figure.
var rejoinTimings = timings{ttl: 8, loopWait: 2, retryTimeout: 3, primaryStartTimeout: 300}

// TestDivergedPrimaryRejoin cuts the primary's agent off (SIGKILL, its PostgreSQL keeps
// running), lets a replica take over, writes rows on the old primary that the new leader
// never sees, crashes the old postmaster, then starts the old agent again: it must be a
// streaming replica of the new leader, through pg_rewind, within a few loops.
func TestDivergedPrimaryRejoin(t *testing.T) {
	t.Run("crashed", func(t *testing.T) { divergedRejoin(t, true, "") })
	t.Run("still running", func(t *testing.T) { divergedRejoin(t, false, "") })
}

// TestDivergedPrimaryRejoinPatroni measures the same scenarios with Patroni 3.0.2 (and
// 4.1 when unpacked in /opt/pgx), for comparison.
func TestDivergedPrimaryRejoinPatroni(t *testing.T) {
	for _, bin := range []string{"/usr/bin/patroni", "/opt/pgx/patroni/bin/patroni"} {
		if _, err := os.Stat(bin); err != nil {
			t.Logf("%s not installed: not measured", bin)
			continue
		}
		t.Run(bin+" crashed", func(t *testing.T) { divergedRejoin(t, true, bin) })
		t.Run(bin+" still running", func(t *testing.T) { divergedRejoin(t, false, bin) })
	}
}

// divergedRejoin runs the scenario with Warden, or with the Patroni at patroni.
func divergedRejoin(t *testing.T, crash bool, patroni string) {
	tm := rejoinTimings
	c := newCluster(t, startEmbeddedEtcd(t), tm)
	start := c.start
	if patroni != "" {
		start = func(n *node) { c.startPatroni(n, patroni) }
	}
	for _, n := range c.nodes {
		start(n)
	}
	old := c.waitPrimary(60 * time.Second)
	for _, n := range c.others(old) {
		c.waitStreaming(old, n, 60*time.Second)
	}
	must(t, c.exec(old, "CREATE TABLE e2e_rows (id int PRIMARY KEY)"))
	must(t, c.exec(old, "INSERT INTO e2e_rows SELECT generate_series(1, 100)"))
	for _, n := range c.others(old) {
		c.eventually(n.name+" to replay the rows", 10*time.Second, func() bool {
			v, err := c.queryInt(n, "SELECT count(*) FROM e2e_rows")
			return err == nil && v == 100
		})
	}

	pm := old.postmasterPid()
	fence := fencePid(old)
	if fence == 0 && patroni == "" {
		t.Fatalf("no fence process for %s", old.name)
	}
	must(t, syscall.Kill(old.agentPid(), syscall.SIGKILL))
	if fence != 0 {
		// Without its fence the old primary keeps accepting writes: the cut-off case.
		must(t, syscall.Kill(fence, syscall.SIGKILL))
	}
	var np *node
	c.eventually("a new primary", 60*time.Second, func() bool {
		for _, n := range c.others(old) {
			if n.health("/primary") == 200 {
				np = n
				return true
			}
		}
		return false
	})
	c.eventually(np.name+" to accept writes", 30*time.Second, func() bool {
		return c.exec(np, "INSERT INTO e2e_rows SELECT generate_series(1000, 1010)") == nil
	})
	// Rows only the cut-off primary has: its timeline diverges from the new leader's.
	must(t, c.exec(old, "INSERT INTO e2e_rows SELECT generate_series(2000, 2200)"))
	if crash {
		must(t, killGroup(pm))
		// PostgreSQL refuses to start while the old PID exists, even as a zombie that
		// init has not reaped yet (a test artifact: the test process is its grandparent).
		c.eventually("the old postmaster reaped", 10*time.Second, func() bool {
			_, err := os.Stat("/proc/" + strconv.Itoa(pm))
			return err != nil
		})
	}
	c.waitGone(old, 0)

	begin := time.Now()
	start(old)
	c.waitStreaming(np, old, 120*time.Second)
	took := time.Since(begin)
	if patroni == "" && !c.logContains(old, "running pg_rewind from "+np.name) {
		t.Errorf("%s rejoined without pg_rewind", old.name)
	}
	c.eventually("the new leader's rows on the rejoined node, the diverged ones gone", 30*time.Second, func() bool {
		a, err1 := c.queryInt(old, "SELECT count(*) FROM e2e_rows WHERE id >= 1000 AND id < 2000")
		b, err2 := c.queryInt(old, "SELECT count(*) FROM e2e_rows WHERE id >= 2000")
		return err1 == nil && err2 == nil && a == 11 && b == 0
	})
	t.Logf("measured: %s: diverged former primary (postmaster crashed=%v) started -> streaming from %s after %.2fs (loop_wait=%d ttl=%d)",
		agentName(patroni), crash, np.name, took.Seconds(), tm.loopWait, tm.ttl)
	if patroni != "" {
		return
	}
	// Within a few loops plus the time PostgreSQL's own tools took (single-user crash
	// recovery, pg_rewind), which no loop_wait shortens.
	tools := toolsElapsed(t, old)
	bound := 3*time.Duration(tm.loopWait)*time.Second + tools
	t.Logf("measured: crash recovery + pg_rewind took %.2fs; bound 3*loop_wait + that = %.2fs", tools.Seconds(), bound.Seconds())
	if took > bound {
		t.Errorf("rejoin took %s, more than %s", took, bound)
	}
}

// fencePid finds n's fence process (`warden fence --data-dir <dir>/data`); 0 if none.
func fencePid(n *node) int {
	want := "fence\x00--data-dir\x00" + filepath.Join(n.dir, "data")
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), want) {
			return pid
		}
	}
	return 0
}

func agentName(patroni string) string {
	if patroni == "" {
		return "warden"
	}
	return patroni
}

// waitStreaming waits until primary p shows r streaming in pg_stat_replication (Patroni
// 3.0.2's /patroni has no replication_state).
func (c *testCluster) waitStreaming(p, r *node, timeout time.Duration) {
	c.t.Helper()
	c.eventually(r.name+" streaming from "+p.name, timeout, func() bool {
		v, err := c.queryInt(p, fmt.Sprintf("SELECT count(*) FROM pg_stat_replication WHERE application_name = '%s' AND state = 'streaming'", r.name))
		return err == nil && v == 1
	})
}

// toolsElapsed sums the longest elapsed= of the single-user postgres run and of
// pg_rewind that n's agent logged since it last started.
func toolsElapsed(t *testing.T, n *node) time.Duration {
	b, err := os.ReadFile(n.logPath)
	must(t, err)
	log := string(b)
	log = log[strings.LastIndex(log, "starting warden"):]
	longest := map[string]time.Duration{}
	for _, l := range strings.Split(log, "\n") {
		for _, tool := range []string{"INFO: postgres: ", "INFO: pg_rewind: "} {
			i := strings.LastIndex(l, " elapsed=")
			if !strings.Contains(l, tool) || i < 0 {
				continue
			}
			if d, err := time.ParseDuration(l[i+len(" elapsed="):]); err == nil && d > longest[tool] {
				longest[tool] = d
			}
		}
	}
	return longest["INFO: postgres: "] + longest["INFO: pg_rewind: "]
}
