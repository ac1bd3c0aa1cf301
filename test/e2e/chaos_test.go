//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
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
// nodes accepted writes at the same time. CHAOS_FAULTS sets the count (default 20),
// CHAOS_SEED the schedule, CHAOS_SYNC_MODE=quorum runs it with quorum commit.
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
	rng := rand.New(rand.NewPCG(seed, seed))
	endpoints, etcdPid := startDebianEtcdProcess(t)
	c := newCluster(t, endpoints, fast)
	p := c.up(t)
	mode, role, voters := any(true), "sync_standby", 1
	if os.Getenv("CHAOS_SYNC_MODE") == "quorum" {
		mode, role, voters = "quorum", "quorum_standby", 2
	}
	if code, body := c.api(p, "PATCH", "/config", map[string]any{"synchronous_mode": mode}); code != 200 {
		t.Fatalf("synchronous_mode: %d %s", code, body)
	}
	c.eventually("synchronous standbys", 30*time.Second, func() bool { return len(c.membersWithRole(p, role)) == voters })

	const recoverBound = 60 * time.Second
	kinds := []string{"kill -9 primary node", "SIGSTOP primary agent", "kill -9 primary postmaster", "graceful stop of primary", "switchover", "kill -9 replica node", "etcd frozen for 3s", "etcd frozen for 2*ttl"}
	type result struct {
		kind    string
		recover time.Duration
	}
	var results []result
	var lost, acked, split int
	for i := 0; i < faults; i++ {
		kind := kinds[rng.IntN(len(kinds))]
		w := c.startChaosWriter(1 + i*1_000_000)
		time.Sleep(500 * time.Millisecond)
		p = c.waitPrimary(30 * time.Second)
		began := time.Now()
		var restart func()
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
			must(t, killGroup(p.postmasterPid()))
		case "graceful stop of primary":
			victim := p
			c.stop(victim)
			restart = func() { c.start(victim) }
		case "switchover":
			var target string
			if names := c.membersWithRole(p, role); len(names) > 0 {
				target = names[0]
			}
			code, msg := c.api(p, "POST", "/switchover", map[string]any{"leader": p.name, "candidate": target})
			if code != 200 {
				t.Logf("fault %d: switchover refused: %d %s", i, code, msg)
			}
		case "kill -9 replica node":
			victim := c.others(p)[rng.IntN(2)]
			c.kill9(victim)
			restart = func() { c.start(victim) }
		case "etcd frozen for 3s":
			must(t, syscall.Kill(etcdPid, syscall.SIGSTOP))
			time.Sleep(3 * time.Second)
			must(t, syscall.Kill(etcdPid, syscall.SIGCONT))
		case "etcd frozen for 2*ttl":
			must(t, syscall.Kill(etcdPid, syscall.SIGSTOP))
			time.Sleep(time.Duration(2*fast.ttl) * time.Second)
			must(t, syscall.Kill(etcdPid, syscall.SIGCONT))
		}
		if restart != nil {
			time.Sleep(time.Duration(fast.ttl) * time.Second)
			restart()
		}
		healthy := func() bool {
			np := c.primary()
			if np == nil {
				return false
			}
			for _, n := range c.others(np) {
				st := n.status()
				if n.health("/replica") != 200 || st == nil || st["replication_state"] != "streaming" {
					return false
				}
			}
			return true
		}
		c.eventually(fmt.Sprintf("recovery after fault %d (%s)", i, kind), recoverBound, healthy)
		took := time.Since(began)
		time.Sleep(300 * time.Millisecond)
		ids, accepts := w.finish()
		np := c.waitPrimary(10 * time.Second)
		missing := c.missing(np, ids)
		sb := splitBrains(accepts)
		acked += len(ids)
		lost += missing
		split += sb
		results = append(results, result{kind, took})
		t.Logf("fault %2d %-28s recovered in %5.2fs, %4d acknowledged writes, %d lost, %d split-brain", i, kind, took.Seconds(), len(ids), missing, sb)
		if missing > 0 || sb > 0 {
			t.Errorf("fault %d (%s): %d acknowledged writes lost, %d split-brain moments", i, kind, missing, sb)
		}
	}
	durations := make([]time.Duration, len(results))
	for i, r := range results {
		durations[i] = r.recover
	}
	sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
	p50 := durations[len(durations)/2]
	p99 := durations[min(len(durations)-1, len(durations)*99/100)]
	t.Logf("measured: chaos summary: %d faults, %d acknowledged writes, %d lost, recovery p50 %.2fs p99 %.2fs, %d split-brain", faults, acked, lost, p50.Seconds(), p99.Seconds(), split)
}

// missing counts acknowledged ids absent from the node.
func (c *testCluster) missing(n *node, ids []int) int {
	if len(ids) == 0 {
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := connect(ctx, n)
	if err != nil {
		return len(ids)
	}
	defer conn.Close(context.Background())
	var found int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM e2e_rows WHERE id = ANY($1)", ids).Scan(&found); err != nil {
		return len(ids)
	}
	return len(ids) - found
}
