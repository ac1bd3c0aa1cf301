//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// This machine has no watchdog device and no loadable modules (no softdog), so a FIFO
// stands in for /dev/watchdog. With driver: testing (Patroni's own test harness) the
// timeout ioctls become "Ctimeout=<n>\n" lines; keepalives are '1', the magic close 'V'.

// wdToken is one thing the agent wrote into its watchdog FIFO.
type wdToken struct {
	at   time.Time
	what string // "1", "V" or "Ctimeout=<n>"
}

// fifoDevice is a FIFO at a node's watchdog path, read by the test.
type fifoDevice struct {
	path   string
	mu     sync.Mutex
	tokens []wdToken
}

// openFIFO creates the FIFO and keeps it open read-write, so the agent's non-blocking
// open finds a reader and a close by the agent is no end of file.
func openFIFO(t *testing.T, c *testCluster, n *node) *fifoDevice {
	t.Helper()
	d := &fifoDevice{path: filepath.Join(n.dir, "watchdog")}
	must(t, unix.Mkfifo(d.path, 0o600))
	must(t, os.Chown(d.path, int(c.owner.uid), int(c.owner.gid)))
	f, err := os.OpenFile(d.path, os.O_RDWR, 0)
	must(t, err)
	t.Cleanup(func() { f.Close() })
	go func() {
		buf := make([]byte, 256)
		pending := ""
		for {
			k, err := f.Read(buf)
			if err != nil {
				return
			}
			now := time.Now()
			pending += string(buf[:k])
			d.mu.Lock()
			for pending != "" {
				if pending[0] != 'C' {
					d.tokens = append(d.tokens, wdToken{now, pending[:1]})
					pending = pending[1:]
					continue
				}
				i := strings.IndexByte(pending, '\n')
				if i < 0 {
					break
				}
				d.tokens = append(d.tokens, wdToken{now, pending[1:i]})
				pending = pending[i+1:]
			}
			d.mu.Unlock()
		}
	}()
	return d
}

func (d *fifoDevice) all() []wdToken {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]wdToken(nil), d.tokens...)
}

// count counts tokens starting with prefix written after from.
func (d *fifoDevice) count(prefix string, from time.Time) int {
	k := 0
	for _, tk := range d.all() {
		if strings.HasPrefix(tk.what, prefix) && !tk.at.Before(from) {
			k++
		}
	}
	return k
}

// first is the first token starting with prefix at or after from; zero when none.
func (d *fifoDevice) first(prefix string, from time.Time) wdToken {
	for _, tk := range d.all() {
		if strings.HasPrefix(tk.what, prefix) && !tk.at.Before(from) {
			return tk
		}
	}
	return wdToken{}
}

// last is the last token starting with prefix before until.
func (d *fifoDevice) last(prefix string, until time.Time) wdToken {
	var found wdToken
	for _, tk := range d.all() {
		if strings.HasPrefix(tk.what, prefix) && tk.at.Before(until) {
			found = tk
		}
	}
	return found
}

// maxGap is the longest pause between keepalives in [from, until).
func (d *fifoDevice) maxGap(from, until time.Time) time.Duration {
	var prev time.Time
	var gap time.Duration
	for _, tk := range d.all() {
		if tk.what != "1" || tk.at.Before(from) || !tk.at.Before(until) {
			continue
		}
		if !prev.IsZero() {
			gap = max(gap, tk.at.Sub(prev))
		}
		prev = tk.at
	}
	return gap
}

// withWatchdog writes each node's watchdog section. The harness appends pgExtra at the
// end of the file, so a top-level section written there is read as such.
func (c *testCluster) withWatchdog(section func(n *node) string) {
	c.pgExtra = section
	c.writeConfigs(fast)
}

// wdTimeout is ttl - safety_margin for the fast timings with safety_margin 2.
const wdTimeout = 3 * time.Second

// TestWatchdogDevice: mode required with a FIFO as the device. The primary feeds it
// every loop; a switchover makes the old primary close it with the magic 'V' before the
// new primary opens its own; a frozen (SIGSTOP) agent stops feeding it, and a real
// device would reset that node before another node is promoted.
func TestWatchdogDevice(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	fifos := map[*node]*fifoDevice{}
	for _, n := range c.nodes {
		fifos[n] = openFIFO(t, c, n)
	}
	c.withWatchdog(func(n *node) string {
		return fmt.Sprintf("watchdog:\n  mode: required\n  driver: testing\n  device: %s\n  safety_margin: 2\n", fifos[n].path)
	})
	start := time.Now()
	p := c.up(t)

	c.eventually(p.name+" feeding its watchdog", 20*time.Second, func() bool { return fifos[p].count("1", start) >= 5 })
	if tk := fifos[p].all()[0]; tk.what != "timeout=3" {
		t.Fatalf("first thing written to %s's device: %q, want the timeout ttl - safety_margin = 3", p.name, tk.what)
	}
	watchFrom := time.Now()
	time.Sleep(5 * time.Second)
	gap := fifos[p].maxGap(watchFrom, time.Now())
	t.Logf("measured: %s's longest keepalive gap over 5s: %.2fs (loop_wait=%d, device timeout %s)", p.name, gap.Seconds(), fast.loopWait, wdTimeout)
	if gap >= wdTimeout {
		t.Fatalf("keepalive gap %s reaches the device timeout %s: a real device would reset a healthy primary", gap, wdTimeout)
	}
	for _, n := range c.others(p) {
		if tks := fifos[n].all(); len(tks) != 0 {
			t.Errorf("replica %s wrote to its watchdog: %v", n.name, tks)
		}
		if st := n.status(); st["watchdog_failed"] != nil {
			t.Errorf("%s reports watchdog_failed with a usable device", n.name)
		}
	}

	// Switchover: the old primary disables its device (magic close) once PostgreSQL is
	// down, before the new one activates its own.
	r := c.others(p)[0]
	began := time.Now()
	c.switchover(p, r)
	c.eventually(p.name+"'s magic close", 20*time.Second, func() bool { return fifos[p].count("V", began) == 1 })
	c.eventually(r.name+" feeding its watchdog", 20*time.Second, func() bool { return fifos[r].count("1", began) >= 3 })
	closed, opened := fifos[p].first("V", began), fifos[r].first("timeout=", began)
	t.Logf("measured: switchover %s -> %s: old device closed %.2fs, new one activated %.2fs after the request", p.name, r.name, closed.at.Sub(began).Seconds(), opened.at.Sub(began).Seconds())
	if opened.at.IsZero() || opened.at.Before(closed.at) {
		t.Fatalf("%s activated its watchdog at %v, before %s closed its own at %v", r.name, opened.at, p.name, closed.at)
	}
	if k, v := fifos[r].count("timeout=", began), fifos[r].count("V", began); k != 1 || v != 0 {
		t.Errorf("%s activated its watchdog %d times and closed it %d times while promoting, want once and never", r.name, k, v)
	}
	if k := fifos[p].count("1", closed.at.Add(time.Millisecond)); k != 0 {
		t.Errorf("%s fed its watchdog %d times after closing it", p.name, k)
	}
	c.waitReplica(p, 60*time.Second)

	// Freeze the new primary's agent: its keepalives stop.
	pid := r.agentPid()
	must(t, syscall.Kill(pid, syscall.SIGSTOP))
	frozen := time.Now()
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	var next *node
	c.eventually("another node to activate its watchdog", 60*time.Second, func() bool {
		for _, n := range c.others(r) {
			if fifos[n].count("timeout=", frozen) > 0 {
				next = n
				return true
			}
		}
		return false
	})
	lastKA := fifos[r].last("1", frozen.Add(time.Hour))
	takeover := fifos[next].first("timeout=", frozen)
	t.Logf("measured: SIGSTOP of %s's agent: last keepalive %.2fs before the freeze; %s activated its watchdog (before promoting) %.2fs after the last keepalive; a real device resets after %s",
		r.name, frozen.Sub(lastKA.at).Seconds(), next.name, takeover.at.Sub(lastKA.at).Seconds(), wdTimeout)
	if lastKA.at.After(frozen.Add(200 * time.Millisecond)) {
		t.Fatalf("a frozen agent fed its watchdog %.2fs after SIGSTOP", lastKA.at.Sub(frozen).Seconds())
	}
	if !lastKA.at.Add(wdTimeout).Before(takeover.at) {
		t.Fatalf("%s took over %.2fs after %s's last keepalive, within the device timeout %s: the old node would still be up", next.name, takeover.at.Sub(lastKA.at).Seconds(), r.name, wdTimeout)
	}
	resumed := time.Now()
	must(t, syscall.Kill(pid, syscall.SIGCONT))
	c.eventually(r.name+"'s magic close after it stepped down", 30*time.Second, func() bool { return fifos[r].count("V", resumed) == 1 })
	c.waitReplica(r, 90*time.Second)
}

// TestWatchdogUnavailable: pg-1 requires a watchdog but has no device; pg-2 requires one
// and has a FIFO without driver: testing, whose ioctls fail (ENOTTY), which Patroni
// counts as a device that cannot be activated; pg-3 runs in automatic mode without a
// device. Only pg-3 ever leads, and each node logs why.
func TestWatchdogUnavailable(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	pg1, pg2, pg3 := c.nodes[0], c.nodes[1], c.nodes[2]
	fifo := openFIFO(t, c, pg2)
	missing := filepath.Join(pg1.dir, "watchdog")
	c.withWatchdog(func(n *node) string {
		switch n {
		case pg1:
			return fmt.Sprintf("watchdog:\n  mode: required\n  device: %s\n  safety_margin: 2\n", missing)
		case pg2:
			return fmt.Sprintf("watchdog:\n  mode: required\n  device: %s\n  safety_margin: 2\n", fifo.path)
		}
		return fmt.Sprintf("watchdog:\n  mode: automatic\n  device: %s\n  safety_margin: 2\n", filepath.Join(n.dir, "watchdog"))
	})

	// Alone, pg-1 does not bootstrap.
	c.start(pg1)
	c.eventually("pg-1 to refuse the bootstrap", 20*time.Second, func() bool {
		return c.logContains(pg1, "not bootstrapping a new cluster: Watchdog device is not usable")
	})
	if st := pg1.status(); st["watchdog_failed"] != true {
		t.Errorf("pg-1 /patroni watchdog_failed = %v, want true", st["watchdog_failed"])
	}
	c.start(pg3)
	if p := c.waitPrimary(60 * time.Second); p != pg3 {
		t.Fatalf("primary %s, want pg-3", p.name)
	}
	c.start(pg2)
	c.waitReplica(pg1, 90*time.Second)
	c.waitReplica(pg2, 90*time.Second)
	must(t, c.exec(pg3, "CREATE TABLE e2e_rows (id int PRIMARY KEY)"))
	if k := strings.Count(readLog(pg3), "Could not activate Linux watchdog device at "); k != 1 {
		t.Errorf("pg-3 logged %d activation warnings, want 1", k)
	}

	// The only node that may lead dies: pg-2 wins the race but cannot activate its
	// device and hands the lock back unpromoted; pg-1 never races.
	killed := time.Now()
	c.kill9(pg3)
	c.eventually("pg-2 to hand the lock back", 60*time.Second, func() bool {
		return c.logContains(pg2, "Not promoting self because watchdog could not be activated")
	})
	if !c.logContains(pg2, "inappropriate ioctl for device") {
		t.Error("pg-2 does not say why its device could not be activated (ENOTTY)")
	}
	c.eventually("pg-2 to report watchdog_failed", 10*time.Second, func() bool { return pg2.status()["watchdog_failed"] == true })
	time.Sleep(3 * time.Second)
	for _, n := range []*node{pg1, pg2} {
		if n.health("/primary") == 200 || n.health("/replica") != 200 {
			t.Fatalf("%s is not a replica %s after the only eligible primary died", n.name, time.Since(killed).Round(time.Second))
		}
	}
	if !c.logContains(pg1, "not the healthiest node: Watchdog device is not usable") {
		t.Error("pg-1 does not log why it does not race")
	}
	if tks := fifo.all(); len(tks) == 0 || tks[len(tks)-1].what != "V" {
		t.Errorf("pg-2's device was not closed with the magic character: %v", tks)
	}

	// pg-3 comes back and leads again: the nodes whose watchdog failed are no rivals.
	c.start(pg3)
	if p := c.waitPrimary(90 * time.Second); p != pg3 {
		t.Fatalf("primary %s after pg-3 came back, want pg-3", p.name)
	}
	t.Logf("measured: without an eligible node the cluster had no primary for %.1fs, until pg-3 returned", time.Since(killed).Seconds())
	if err := c.exec(pg3, "INSERT INTO e2e_rows (id) VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if k := strings.Count(readLog(pg3), "Could not activate Linux watchdog device at "); k != 2 {
		t.Errorf("pg-3 logged %d activation warnings over two leaderships, want 2", k)
	}
}

func readLog(n *node) string {
	b, _ := os.ReadFile(n.logPath)
	return string(b)
}
