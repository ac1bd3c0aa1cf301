//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// syncNames reads synchronous_standby_names on n ("" when unreachable).
func (c *testCluster) syncNames(n *node) string {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := connect(ctx, n)
	if err != nil {
		return ""
	}
	defer conn.Close(context.Background())
	var v string
	if conn.QueryRow(ctx, "SHOW synchronous_standby_names").Scan(&v) != nil {
		return ""
	}
	return v
}

// anyOf renders the value Warden writes for quorum k of the named standbys.
func anyOf(k int, nodes ...*node) string {
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = `"` + n.name + `"`
	}
	sort.Strings(names)
	return fmt.Sprintf("ANY %d (%s)", k, strings.Join(names, ","))
}

// walReceiverPid finds the WAL receiver among n's postmaster's children.
func walReceiverPid(t *testing.T, n *node) int {
	t.Helper()
	pm := n.postmasterPid()
	entries, err := os.ReadDir("/proc")
	must(t, err)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the parenthesised command: state, ppid, ...
		rest := string(stat[strings.LastIndexByte(string(stat), ')')+2:])
		fields := strings.Fields(rest)
		if len(fields) < 2 || fields[1] != strconv.Itoa(pm) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.Contains(string(cmdline), "walreceiver") {
			return pid
		}
	}
	t.Fatalf("no walreceiver under %s's postmaster %d", n.name, pm)
	return 0
}

// TestQuorumCommit: synchronous_mode quorum on three nodes. The primary waits for ANY 1
// of both replicas, both are quorum standbys (/quorum, ctl list); a replica lagging more
// than maximum_lag_on_syncnode leaves the quorum and returns once caught up; writes go on
// with one replica killed; kill -9 of the primary promotes a replica holding every
// acknowledged row.
func TestQuorumCommit(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	p := c.up(t)
	if code, body := c.api(p, "PATCH", "/config", map[string]any{"synchronous_mode": "quorum"}); code != 200 {
		t.Fatalf("enable quorum: %d %s", code, body)
	}
	replicas := c.others(p)
	both := anyOf(1, replicas...)
	began := time.Now()
	c.eventually("ANY 1 of both replicas and both quorum standbys", 30*time.Second, func() bool {
		return c.syncNames(p) == both && replicas[0].health("/quorum") == 200 && replicas[1].health("/quorum") == 200
	})
	t.Logf("measured: quorum commit in force %.2fs after the configuration change", time.Since(began).Seconds())
	if !c.logContains(p, "Quorum commit voters assigned to") {
		t.Error("the primary did not log the voters it assigned")
	}
	for _, r := range replicas {
		if r.health("/sync") != 503 || r.health("/async") != 503 || r.health("/read-only-quorum") != 200 {
			t.Errorf("%s: /sync %d /async %d /read-only-quorum %d, want 503 503 200", r.name, r.health("/sync"), r.health("/async"), r.health("/read-only-quorum"))
		}
		if st := r.status(); st["quorum_standby"] != true {
			t.Errorf("%s: /patroni quorum_standby = %v", r.name, st["quorum_standby"])
		}
	}
	if list := c.mustCtl("list"); countOccurrences(list, "Quorum Standby") != 2 {
		t.Errorf("warden ctl list shows %d Quorum Standby rows:\n%s", countOccurrences(list, "Quorum Standby"), list)
	}
	if v, err := c.queryInt(p, "SELECT (current_setting('synchronous_commit') = 'on')::int"); err != nil || v != 1 {
		t.Fatalf("synchronous_commit is not on: %v %v", v, err)
	}
	id := 0
	write := func(n int) {
		t.Helper()
		for range n {
			id++
			must(t, c.exec(p, "INSERT INTO e2e_rows (id) VALUES ($1)", id))
		}
	}
	write(50)

	t.Run("a lagging standby leaves the quorum and comes back", func(t *testing.T) {
		c.t = t
		if code, body := c.api(p, "PATCH", "/config", map[string]any{"maximum_lag_on_syncnode": 1 << 20}); code != 200 {
			t.Fatalf("maximum_lag_on_syncnode: %d %s", code, body)
		}
		must(t, c.exec(p, "CREATE TABLE e2e_bulk (id int, pad text)"))
		lagging, healthy := replicas[0], replicas[1]
		wr := walReceiverPid(t, lagging)
		must(t, syscall.Kill(wr, syscall.SIGSTOP))
		stopped := true
		defer func() {
			if stopped {
				_ = syscall.Kill(wr, syscall.SIGCONT)
			}
		}()
		// Several MB of WAL, each statement acknowledged by the healthy standby alone.
		for i := range 4 {
			must(t, c.exec(p, "INSERT INTO e2e_bulk SELECT g, repeat('x', 200) FROM generate_series($1::int, $1::int + 9999) g", i*10000))
		}
		dropped := time.Now()
		c.eventually(lagging.name+" to leave the quorum", 30*time.Second, func() bool {
			return c.syncNames(p) == anyOf(1, healthy) && lagging.health("/quorum") == 503
		})
		t.Logf("measured: %s (walreceiver stopped, >1 MB behind) left the quorum %.2fs after the writes", lagging.name, time.Since(dropped).Seconds())
		write(10)
		must(t, syscall.Kill(wr, syscall.SIGCONT))
		stopped = false
		resumed := time.Now()
		c.eventually(lagging.name+" to rejoin the quorum", 30*time.Second, func() bool {
			return c.syncNames(p) == both && lagging.health("/quorum") == 200
		})
		t.Logf("measured: %s rejoined the quorum %.2fs after its walreceiver resumed", lagging.name, time.Since(resumed).Seconds())
	})

	t.Run("writes go on with one replica killed", func(t *testing.T) {
		c.t = t
		victim := replicas[1]
		c.kill9(victim)
		for range 20 {
			id++
			start := time.Now()
			must(t, c.exec(p, "INSERT INTO e2e_rows (id) VALUES ($1)", id))
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("a write with one replica down took %s", d)
			}
		}
		c.start(victim)
		c.waitReplica(victim, 90*time.Second)
		c.eventually("both replicas back in the quorum", 60*time.Second, func() bool { return c.syncNames(p) == both })
	})

	t.Run("kill -9 of the primary promotes a replica with every acknowledged row", func(t *testing.T) {
		c.t = t
		write(30)
		acknowledged := id
		killed := time.Now()
		c.kill9(p)
		w, took := c.timeToWrite(killed, 1_000_000, 60*time.Second)
		t.Logf("measured: kill -9 of the primary in quorum mode -> first write on %s after %.2fs", w.name, took.Seconds())
		v, err := c.queryInt(w, fmt.Sprintf("SELECT count(*) FROM e2e_rows WHERE id <= %d", acknowledged))
		must(t, err)
		if v != int64(acknowledged) {
			t.Fatalf("the new primary %s has %d of %d acknowledged rows", w.name, v, acknowledged)
		}
		c.start(p)
		c.waitReplica(p, 90*time.Second)
		c.eventually("the new primary waits for ANY 1 of both others", 60*time.Second, func() bool {
			return c.syncNames(w) == anyOf(1, c.others(w)...)
		})
	})
}
