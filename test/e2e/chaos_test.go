//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// chaosWriter writes through whichever node accepts writes, with synchronous_commit on,
// and records every acknowledged write and every (node, time) that accepted one.
type chaosWriter struct {
	c    *testCluster
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	acked   []int
	accepts []accept
	next    int
}

type accept struct {
	node  string
	at    time.Time
	round int
}

// startChaosWriter numbers its writes from first; every window needs fresh ids, since a
// duplicate key is never acknowledged.
func (c *testCluster) startChaosWriter(first int) *chaosWriter {
	w := &chaosWriter{c: c, stop: make(chan struct{}), done: make(chan struct{}), next: first}
	go w.run()
	return w
}

func (w *chaosWriter) run() {
	defer close(w.done)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for round := 0; ; round++ {
		select {
		case <-w.stop:
			return
		case <-tick.C:
		}
		// Every node is tried: two nodes accepting writes in the same round is split brain.
		for _, n := range w.c.nodes {
			w.mu.Lock()
			id := w.next
			w.next++
			w.mu.Unlock()
			if w.c.exec(n, "INSERT INTO e2e_rows (id) VALUES ($1)", id) == nil {
				w.mu.Lock()
				w.acked = append(w.acked, id)
				w.accepts = append(w.accepts, accept{n.name, time.Now(), round})
				w.mu.Unlock()
			}
		}
	}
}

func (w *chaosWriter) finish() ([]int, []accept) {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int(nil), w.acked...), append([]accept(nil), w.accepts...)
}

// splitBrains counts moments when two nodes were writable together: both accepted a
// write in the same round, or a node accepted again after another had taken over (within
// one fault window the primary moves at most once).
func splitBrains(accepts []accept) int {
	sort.Slice(accepts, func(i, j int) bool { return accepts[i].at.Before(accepts[j].at) })
	perRound := map[int]map[string]bool{}
	seen := map[string]bool{}
	count := 0
	current := ""
	for _, a := range accepts {
		if perRound[a.round] == nil {
			perRound[a.round] = map[string]bool{}
		}
		perRound[a.round][a.node] = true
		if a.node != current {
			if seen[a.node] && current != "" {
				count++
			}
			seen[a.node] = true
			current = a.node
		}
	}
	for _, nodes := range perRound {
		if len(nodes) > 1 {
			count++
		}
	}
	return count
}

// TestChaos runs a schedule of faults against a 3-node cluster in synchronous mode under
// a write workload, and checks after each: the cluster returns to one primary and two
// streaming replicas within a bound; every acknowledged write is on the primary; no two
// nodes accepted writes at the same time. The nodes run in network namespaces (netLab)
// when this machine allows it, and the menu then includes network partitions;
// CHAOS_NETNS=0 keeps them on loopback. CHAOS_FAULTS sets the count (default 20),
// CHAOS_SEED the schedule, CHAOS_KINDS (comma-separated fault names) the menu,
// CHAOS_SYNC_MODE=quorum runs it with quorum commit.
func TestChaos(t *testing.T) {
	faults := 20
	if v, err := strconv.Atoi(os.Getenv("CHAOS_FAULTS")); err == nil && v > 0 {
		faults = v
	}
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("CHAOS_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("chaos seed %d (replay with CHAOS_SEED=%d)", seed, seed)
	kinds := processFaults
	var c *testCluster
	var etcd *etcdProcess
	why := netLabAvailable()
	if os.Getenv("CHAOS_NETNS") == "0" {
		why = "CHAOS_NETNS=0"
	}
	if why == "" {
		c, etcd = newNetnsCluster(t, fast)
		kinds = append(append([]string(nil), processFaults...), partitionFaults...)
	} else {
		t.Logf("chaos: nodes on loopback, no partition faults (%s)", why)
		etcd = runDebianEtcd(t, "127.0.0.1", freePort(t), freePort(t), exec.Command)
		c = newCluster(t, etcd.endpoints, fast)
	}
	if v := os.Getenv("CHAOS_KINDS"); v != "" {
		kinds = strings.Split(v, ",")
	}
	ch := &chaos{c: c, etcd: etcd, rng: rand.New(rand.NewPCG(seed, seed))}
	ch.setup()
	for i := 0; i < faults; i++ {
		ch.fault(i, kinds[ch.rng.IntN(len(kinds))])
	}
	ch.summary()
}

// TestPartitions runs each network partition in turn against a cluster in network
// namespaces, with the same checks as TestChaos: the primary cut off from everything, the
// primary cut off from etcd only, a replica cut off from everything, a replica cut off
// from etcd only, each healed after 2*ttl.
func TestPartitions(t *testing.T) {
	c, etcd := newNetnsCluster(t, fast)
	seed := uint64(time.Now().UnixNano())
	t.Logf("chaos seed %d (replica choice)", seed)
	ch := &chaos{c: c, etcd: etcd, rng: rand.New(rand.NewPCG(seed, seed))}
	ch.setup()
	for i, kind := range partitionFaults {
		ch.fault(i, kind)
	}
	ch.summary()
}

var (
	processFaults   = []string{"kill -9 primary node", "SIGSTOP primary agent", "kill -9 primary postmaster", "graceful stop of primary", "switchover", "kill -9 replica node", "etcd frozen for 3s", "etcd frozen for 2*ttl", "etcd killed and restarted"}
	partitionFaults = []string{"partition primary from all", "partition primary from etcd", "partition replica from all", "partition replica from etcd"}
)

// chaosRecoverBound is how long the cluster may take, from the start of a fault, to be
// one primary and two streaming replicas, one of them its synchronous standby, again.
const chaosRecoverBound = 60 * time.Second

type chaos struct {
	c       *testCluster
	etcd    *etcdProcess
	rng     *rand.Rand
	results []faultResult
	// role and voters: the members that must be in /sync again before a fault counts as
	// recovered (sync_standby 1, or quorum_standby 2 with CHAOS_SYNC_MODE=quorum).
	role   string
	voters int
}

type faultResult struct {
	kind               string
	recover            time.Duration
	acked, lost, split int
}

func (ch *chaos) setup() {
	c, t := ch.c, ch.c.t
	p := c.up(t)
	mode := any(true)
	ch.role, ch.voters = "sync_standby", 1
	if os.Getenv("CHAOS_SYNC_MODE") == "quorum" {
		mode, ch.role, ch.voters = "quorum", "quorum_standby", 2
	}
	if code, body := c.api(p, "PATCH", "/config", map[string]any{"synchronous_mode": mode}); code != 200 {
		t.Fatalf("synchronous_mode: %d %s", code, body)
	}
	c.eventually("synchronous standbys", 30*time.Second, func() bool { return len(c.membersWithRole(p, ch.role)) == ch.voters })
}

// fault injects one fault under the write workload, waits for recovery and checks it.
func (ch *chaos) fault(i int, kind string) {
	c, t := ch.c, ch.c.t
	w := c.startChaosWriter(1 + i*1_000_000)
	time.Sleep(500 * time.Millisecond)
	p := c.waitPrimary(30 * time.Second)
	began := time.Now()
	var restart func()
	check := func(*node) {}
	switch kind {
	case "kill -9 primary node":
		victim := p
		c.kill9(victim)
		restart = func() { c.start(victim) }
	case "SIGSTOP primary agent":
		pid := p.agentPid()
		must(t, syscall.Kill(pid, syscall.SIGSTOP))
		time.Sleep(time.Duration(fast.ttl+2) * time.Second)
		must(t, syscall.Kill(pid, syscall.SIGCONT))
	case "kill -9 primary postmaster":
		pm := p.postmasterPid()
		must(t, killGroup(pm))
		c.eventually("the killed postmaster to be gone", 10*time.Second, func() bool { return !alive(pm) })
	case "graceful stop of primary":
		victim := p
		c.stop(victim)
		restart = func() { c.start(victim) }
	case "switchover":
		var target string
		if names := c.membersWithRole(p, ch.role); len(names) > 0 {
			target = names[0]
		}
		code, msg := c.api(p, "POST", "/switchover", map[string]any{"leader": p.name, "candidate": target})
		if code != 200 {
			t.Logf("fault %d: switchover refused: %d %s", i, code, msg)
		}
	case "kill -9 replica node":
		victim := c.others(p)[ch.rng.IntN(2)]
		c.kill9(victim)
		restart = func() { c.start(victim) }
	case "etcd frozen for 3s":
		must(t, syscall.Kill(ch.etcd.pid(), syscall.SIGSTOP))
		time.Sleep(3 * time.Second)
		must(t, syscall.Kill(ch.etcd.pid(), syscall.SIGCONT))
	case "etcd frozen for 2*ttl":
		must(t, syscall.Kill(ch.etcd.pid(), syscall.SIGSTOP))
		time.Sleep(time.Duration(2*fast.ttl) * time.Second)
		must(t, syscall.Kill(ch.etcd.pid(), syscall.SIGCONT))
	case "etcd killed and restarted":
		// kill -9, down for ttl, started again on the same data directory.
		ch.etcd.kill()
		time.Sleep(time.Duration(fast.ttl) * time.Second)
		ch.etcd.start()
	case "partition primary from all", "partition primary from etcd", "partition replica from all", "partition replica from etcd":
		victim := p
		if strings.Contains(kind, "replica") {
			victim = c.others(p)[ch.rng.IntN(2)]
		}
		c.isolate(victim, strings.HasSuffix(kind, "from all"))
		time.Sleep(time.Duration(2*fast.ttl) * time.Second)
		c.lab.healAll()
		// The lease cannot outlive a 2*ttl cut from etcd; a replica's cut never moves it.
		wantMove := victim == p
		check = func(np *node) {
			if moved := np != p; moved != wantMove {
				t.Errorf("fault %d (%s of %s): the primary moved: %v, want %v", i, kind, victim.name, moved, wantMove)
			}
		}
	default:
		t.Fatalf("unknown fault %q", kind)
	}
	if restart != nil {
		time.Sleep(time.Duration(fast.ttl) * time.Second)
		restart()
	}
	healthy := func() bool {
		np := c.primary()
		// The REST API may still report a primary whose postmaster was just killed.
		if np == nil || c.exec(np, "SELECT 1") != nil {
			return false
		}
		for _, n := range c.others(np) {
			st := n.status()
			if n.health("/replica") != 200 || st == nil || st["replication_state"] != "streaming" {
				return false
			}
		}
		// In synchronous mode only a member in /sync may take over: until one is there
		// again the cluster cannot fail over, so it has not recovered.
		return len(c.membersWithRole(np, ch.role)) == ch.voters
	}
	c.eventually(fmt.Sprintf("recovery after fault %d (%s)", i, kind), chaosRecoverBound, healthy)
	took := time.Since(began)
	time.Sleep(300 * time.Millisecond)
	ids, accepts := w.finish()
	np := c.waitPrimary(10 * time.Second)
	check(np)
	lost, err := c.missing(ids)
	if err != nil {
		t.Fatalf("fault %d (%s): could not read the acknowledged writes back within %s: %v", i, kind, chaosRecoverBound, err)
	}
	r := faultResult{kind: kind, recover: took, acked: len(ids), lost: lost, split: splitBrains(accepts)}
	ch.results = append(ch.results, r)
	t.Logf("fault %2d %-28s recovered in %5.2fs, %4d acknowledged writes, %d lost, %d split-brain, primary %s -> %s", i, kind, took.Seconds(), r.acked, r.lost, r.split, p.name, np.name)
	if r.lost > 0 || r.split > 0 {
		t.Errorf("fault %d (%s): %d acknowledged writes lost, %d split-brain moments", i, kind, r.lost, r.split)
	}
}

// summary logs the table `make chaos` prints: per fault kind and in total, the faults,
// acknowledged and lost writes, split-brain moments and recovery time p50/p99.
func (ch *chaos) summary() {
	t := ch.c.t
	byKind := map[string][]faultResult{}
	var kinds []string
	for _, r := range ch.results {
		if byKind[r.kind] == nil {
			kinds = append(kinds, r.kind)
		}
		byKind[r.kind] = append(byKind[r.kind], r)
	}
	sort.Strings(kinds)
	t.Logf("summary | %-28s | %6s | %8s | %4s | %11s | %7s | %7s", "fault", "count", "acked", "lost", "split-brain", "p50", "p99")
	row := func(name string, rs []faultResult) faultResult {
		var sum faultResult
		durations := make([]time.Duration, len(rs))
		for i, r := range rs {
			sum.acked += r.acked
			sum.lost += r.lost
			sum.split += r.split
			durations[i] = r.recover
		}
		sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
		p50, p99 := durations[len(durations)/2], durations[min(len(durations)-1, len(durations)*99/100)]
		t.Logf("summary | %-28s | %6d | %8d | %4d | %11d | %6.2fs | %6.2fs", name, len(rs), sum.acked, sum.lost, sum.split, p50.Seconds(), p99.Seconds())
		sum.recover = p99
		return sum
	}
	if len(ch.results) == 0 {
		return
	}
	for _, k := range kinds {
		row(k, byKind[k])
	}
	all := row("all", ch.results)
	t.Logf("measured: chaos summary: %d faults, %d acknowledged writes, %d lost, recovery (from the fault's start, bound %s) p99 %.2fs, %d split-brain",
		len(ch.results), all.acked, all.lost, chaosRecoverBound, all.recover.Seconds(), all.split)
}

// missing counts acknowledged ids absent from the primary. A primary that cannot be read
// (its postmaster restarting, a demotion under way) is waited for, never counted as
// having lost the writes.
func (c *testCluster) missing(ids []int) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	err := fmt.Errorf("no primary")
	for deadline := time.Now().Add(chaosRecoverBound); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		n := c.primary()
		if n == nil {
			continue
		}
		var found int
		if found, err = countIDs(n, ids); err == nil {
			return len(ids) - found, nil
		}
	}
	return 0, err
}

// countIDs counts the ids present on n, which must be out of recovery.
func countIDs(n *node, ids []int) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := connect(ctx, n)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var found int
	var standby bool
	if err := conn.QueryRow(ctx, "SELECT count(*), pg_is_in_recovery() FROM e2e_rows WHERE id = ANY($1)", ids).Scan(&found, &standby); err != nil {
		return 0, err
	}
	if standby {
		return 0, fmt.Errorf("%s is in recovery", n.name)
	}
	return found, nil
}
