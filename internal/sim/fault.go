package sim

import (
	"time"

	"github.com/warden-ha/warden/internal/ha"
)

// Start boots every node within the first second and starts the replication tick.
func (s *Sim) Start() {
	for _, n := range s.nodes {
		s.after(s.between(0, time.Second), func() {
			s.logf(n, "agent starts")
			s.startAgent(n)
		})
	}
	s.after(s.tick(), s.replicate)
}

func (s *Sim) tick() time.Duration { return s.cfg.Timing.LoopWait / 10 }

// replicate is one replication tick: standbys streaming from a running upstream catch
// up part of the way, then clients write to every writable server.
func (s *Sim) replicate() {
	for _, n := range s.nodes {
		p := &n.pg
		if !s.streaming(n) || s.now.Before(n.stalledUntil) {
			continue
		}
		up := s.node(p.upstream)
		if up.pg.timeline > p.timeline {
			p.timeline = up.pg.timeline
			p.history = append(p.history[:0:0], up.pg.history...)
		}
		if up.pg.wal > p.wal {
			p.wal = min(up.pg.wal, p.wal+s.received())
		}
	}
	s.acknowledge()
	// Writes land after the standbys received the previous tick's WAL: asynchronous
	// replication always lags by one tick.
	for _, n := range s.nodes {
		if n.pg.writable() {
			n.pg.wal += 1 + s.rng.Uint64N(100)
		}
	}
	s.after(s.tick(), s.replicate)
}

// received is how much WAL a streaming standby receives per tick: a fixed 400 bytes, or
// in synchronous schedules anywhere from 0 to 400, so that standbys differ.
func (s *Sim) received() uint64 {
	if s.cfg.SyncMode == "" {
		return 400
	}
	return s.rng.Uint64N(401)
}

// Stall stops a standby's WAL receiver for d (SIGSTOP of the walreceiver): its
// PostgreSQL stays up and connected, and receives nothing.
func (s *Sim) Stall(name string, d time.Duration) {
	n := s.node(name)
	s.stats.Faults++
	s.logf(n, "FAULT WAL receiver stalled for %s", d)
	n.stalledUntil = s.now.Add(d)
}

// Kill is kill -9 of the whole node: the agent's memory is gone and PostgreSQL stops
// without a shutdown checkpoint. The store session is abandoned; its lease runs out.
func (s *Sim) Kill(name string) {
	n := s.node(name)
	s.stats.Faults++
	s.logf(n, "FAULT kill -9 (agent and postmaster)")
	n.agent, n.frozen = nil, false
	n.pg.stop(false)
}

// Restart starts a fresh agent on a node whose agent is down.
func (s *Sim) Restart(name string) {
	n := s.node(name)
	if n.agent != nil {
		return
	}
	s.logf(n, "agent restarts")
	s.startAgent(n)
}

// KillPostmaster crashes PostgreSQL only; the agent notices on its next loop.
func (s *Sim) KillPostmaster(name string) {
	n := s.node(name)
	s.stats.Faults++
	s.logf(n, "FAULT kill -9 postmaster (%s)", n.pg.String())
	n.pg.stop(false)
}

// GracefulStop is SIGTERM to the agent: it stops PostgreSQL, releases the key and exits.
func (s *Sim) GracefulStop(name string) {
	n := s.node(name)
	if n.agent == nil {
		return
	}
	s.stats.Faults++
	s.logf(n, "FAULT SIGTERM (graceful stop)")
	n.agent.shutdown = true
	s.scheduleCycle(n, s.now)
}

// Partition cuts (or heals) the node's link to the store; its peers still see it.
func (s *Sim) Partition(name string, cut bool) { s.partition(name, cut, false) }

// Isolate cuts (or heals) every link of the node: the store and its peers' REST APIs.
// Clients on its side of the partition keep writing to it.
func (s *Sim) Isolate(name string, cut bool) { s.partition(name, cut, true) }

func (s *Sim) partition(name string, cut, peersToo bool) {
	n := s.node(name)
	switch {
	case cut && peersToo:
		s.stats.Faults++
		s.logf(n, "FAULT isolated from the store and its peers")
	case cut:
		s.stats.Faults++
		s.logf(n, "FAULT partitioned from the store")
	default:
		s.logf(n, "partition healed")
	}
	n.partitioned, n.isolated = cut, cut && peersToo
	s.applyReachability(n)
}

// SplitFromPeers cuts (or heals) the node's links to its peers' REST APIs only: it still
// reaches the store, as the store's side of a partition does.
func (s *Sim) SplitFromPeers(name string, cut bool) {
	n := s.node(name)
	if cut {
		s.stats.Faults++
		s.logf(n, "FAULT cut off from its peers, still reaching the store")
	} else {
		s.logf(n, "peer links healed")
	}
	n.isolated = cut
}

// StoreOutage takes the whole store down (or brings it back).
func (s *Sim) StoreOutage(down bool) {
	if down {
		s.stats.Faults++
		s.logf(nil, "FAULT store down")
	} else {
		s.logf(nil, "store back")
	}
	s.storeUp = !down
	for _, n := range s.nodes {
		s.applyReachability(n)
	}
}

// Late makes the node's loop run up to loop_wait late until the given duration passes.
func (s *Sim) Late(name string, d time.Duration) {
	n := s.node(name)
	s.stats.Faults++
	s.logf(n, "FAULT loops run late for %s", d)
	n.lateUntil = s.now.Add(d)
}

// Freeze is SIGSTOP of the agent for d: no loop runs, PostgreSQL keeps serving.
func (s *Sim) Freeze(name string, d time.Duration) {
	n := s.node(name)
	if n.agent == nil || n.frozen {
		return
	}
	s.stats.Faults++
	s.logf(n, "FAULT SIGSTOP agent for %s", d)
	n.frozen = true
	a := n.agent
	s.after(d, func() {
		if n.agent == a && n.frozen {
			s.thaw(n)
		}
	})
}

func (s *Sim) thaw(n *node) {
	n.frozen = false
	s.logf(n, "SIGCONT agent")
	if a := n.agent; a != nil && a.missed {
		a.missed = false
		s.scheduleCycle(n, s.now)
	}
}

// HealAll ends every fault: store up, partitions healed, agents thawed and restarted.
func (s *Sim) HealAll() {
	s.logf(nil, "heal all faults")
	s.prePromoteFlaky = false
	if !s.storeUp {
		s.StoreOutage(false)
	}
	for _, n := range s.nodes {
		n.lateUntil, n.stalledUntil = time.Time{}, time.Time{}
		if n.partitioned || n.isolated {
			s.Partition(n.name, false)
		}
		if n.frozen {
			s.thaw(n)
		}
		if n.agent == nil {
			s.Restart(n.name)
		} else if n.agent.shutdown {
			// A stop still in progress finishes; the node then comes back.
			s.after(s.cfg.Timing.RetryTimeout*2, func() { s.Restart(n.name) })
		}
	}
}

// randomFault injects one fault that fits the current state, chosen by the seed.
func (s *Sim) randomFault() {
	n := s.nodes[s.rng.IntN(len(s.nodes))]
	ttl := s.cfg.Timing.TTL
	kinds := []string{"kill", "restart", "postmaster", "graceful", "partition", "outage", "late"}
	switch s.cfg.Profile {
	case GracefulOnly:
		kinds = []string{"graceful", "restart"}
	case Frozen:
		kinds = append(kinds, "freeze", "freeze")
	case Failsafe:
		kinds = append(kinds, "outage", "outage", "partition", "partition", "peers", "peers")
	}
	if s.cfg.SyncMode != "" {
		kinds = append(kinds, "stall", "stall")
	}
	switch kinds[s.rng.IntN(len(kinds))] {
	case "kill":
		if n.agent != nil {
			s.Kill(n.name)
		}
	case "restart":
		for _, m := range s.nodes {
			if m.agent == nil {
				s.Restart(m.name)
				return
			}
		}
	case "stall":
		s.Stall(n.name, s.between(time.Second, 2*ttl))
	case "postmaster":
		if n.pg.running {
			s.KillPostmaster(n.name)
		}
	case "graceful":
		if s.cfg.Profile == GracefulOnly && s.downCount() > 0 {
			// Keep the graceful-only schedules to one stopped node at a time so that a
			// stop of the primary always leaves a caught-up replica to take over.
			return
		}
		s.GracefulStop(n.name)
	case "partition":
		if !n.partitioned {
			s.partition(n.name, true, s.rng.IntN(2) == 0)
			s.after(s.between(time.Second, 2*ttl), func() {
				if n.partitioned {
					s.Partition(n.name, false)
				}
			})
		}
	case "outage":
		if s.storeUp {
			s.StoreOutage(true)
			longest := 2 * ttl
			if s.cfg.Profile == Failsafe {
				// Long enough for the primary to outlive its lease on confirmations.
				longest = 4 * ttl
			}
			s.after(s.between(time.Second, longest), func() {
				if !s.storeUp {
					s.StoreOutage(false)
				}
			})
		}
	case "peers":
		if !n.isolated {
			s.SplitFromPeers(n.name, true)
			s.after(s.between(time.Second, 2*ttl), func() {
				if n.isolated && !n.partitioned {
					s.SplitFromPeers(n.name, false)
				}
			})
		}
	case "late":
		s.Late(n.name, s.between(time.Second, 3*ttl))
	case "freeze":
		s.Freeze(n.name, s.between(time.Second, 2*ttl))
	}
}

func (s *Sim) downCount() int {
	c := 0
	for _, n := range s.nodes {
		if n.agent == nil || n.agent.shutdown {
			c++
		}
	}
	return c
}

// Result is the outcome of one random schedule.
type Result struct {
	Violations []string
	Stats      Stats
}

// Run plays one random schedule: bootstrap, a window of seeded faults, then every fault
// healed and a bounded wait for a healthy cluster.
func (s *Sim) Run() Result {
	t := s.cfg.Timing
	s.Start()
	s.awaitHealthy(60*time.Second, "bootstrap")
	if len(s.violations) == 0 {
		window := 8*t.TTL + 10*time.Second
		faults := 3 + s.rng.IntN(10)
		for range faults {
			s.after(s.between(0, window), s.randomFault)
		}
		s.RunFor(window)
		s.HealAll()
		// Liveness bound: a lease to run out, a leader race, a clone and a start.
		s.awaitHealthy(3*t.TTL+3*t.LoopWait+2*t.RetryTimeout+10*time.Second, "recovery after faults")
	}
	return Result{Violations: s.violations, Stats: s.Stats()}
}

// awaitHealthy runs until the cluster is healthy, or records a liveness violation
// after bound.
func (s *Sim) awaitHealthy(bound time.Duration, phase string) {
	start := s.now
	deadline := s.now.Add(bound)
	for len(s.violations) == 0 {
		if ok, _ := s.healthy(); ok && s.noBusy() {
			s.stats.Converged = s.now.Sub(start)
			s.logf(nil, "healthy after %s (%s)", s.now.Sub(start), phase)
			return
		}
		if !s.now.Before(deadline) {
			_, why := s.healthy()
			s.violate("liveness: not healthy %s after %s: %s; %s", phase, bound, why, s.State())
			return
		}
		next := deadline
		if s.queue.Len() > 0 && s.queue[0].at.Before(next) {
			next = s.queue[0].at
		}
		s.RunUntil(next)
	}
}

func (s *Sim) noBusy() bool {
	for _, n := range s.nodes {
		if n.agent != nil && n.agent.busy != nil && n.agent.busy.Action != ha.KindEnsureSlots {
			return false
		}
	}
	return true
}
