package sim

import (
	"fmt"
	"strings"

	"github.com/warden-ha/warden/internal/ha"
)

// refreshView re-reads the leader key through the observer client when something may
// have changed it: a store write, or the holder's lease reaching its expected end.
func (s *Sim) refreshView() {
	if !s.viewDirty && (s.holder == "" || s.now.Before(s.holderLease)) {
		return
	}
	s.viewDirty = false
	cl, err := s.view.Load(s.ctx)
	if err != nil {
		s.violate("observer cannot read the store: %v", err)
		return
	}
	prev := s.holder
	s.holder = cl.LeaderName()
	if s.holder == "" {
		return
	}
	last, ok := s.leaseOwner[s.keySession]
	if !ok || !strings.HasPrefix(s.keySession, s.holder+"#") {
		s.violate("leader key held by %q, which the model never saw acquire it (last acquire by session %q)", s.holder, s.keySession)
		return
	}
	s.holderLease = last.Add(s.cfg.Timing.TTL)
	if prev != s.holder {
		s.logf(nil, "store: leader key now held by %q (lease until %.3fs)", s.holder, s.holderLease.Sub(epoch).Seconds())
	}
}

// wakeWatchers delivers watch events: an agent whose last snapshot showed another
// holder than the store now does runs its loop at once.
func (s *Sim) wakeWatchers() {
	for _, n := range s.nodes {
		a := n.agent
		if a == nil {
			continue
		}
		select {
		case <-n.store.Changes():
		default:
			continue
		}
		if n.frozen {
			a.missed = true
			continue
		}
		if a.waiting || !s.reachable(n) || a.seenLdr == s.holder {
			continue
		}
		s.scheduleCycle(n, s.now)
	}
}

// check runs the invariants that hold at every instant.
func (s *Sim) check() {
	if len(s.violations) > 0 {
		return
	}
	// (4) The key outlives its holder's last keep-alive by no more than ttl.
	if s.holder != "" && !s.now.Before(s.holderLease) {
		s.violate("leader key still held by %q after its lease ended at %.3fs", s.holder, s.holderLease.Sub(epoch).Seconds())
		return
	}
	// (1) At most one writable PostgreSQL.
	w := s.Writable()
	switch {
	case len(w) >= 2 && !s.dual:
		s.dual, s.dualSince = true, s.now
		s.dualWindows++
		s.logf(nil, "two writable nodes: %s", strings.Join(w, ", "))
		if s.cfg.Profile != Frozen {
			s.violate("two writable nodes at once: %s (holder %q)", strings.Join(w, ", "), s.holder)
		}
	case len(w) < 2 && s.dual:
		s.dual = false
		s.dualTotal += s.now.Sub(s.dualSince)
		s.logf(nil, "two-writable window closed after %s", s.now.Sub(s.dualSince))
	}
}

// healthy: exactly one primary, holding the key, and every other node streams from it.
func (s *Sim) healthy() (bool, string) {
	w := s.Writable()
	if len(w) != 1 {
		return false, fmt.Sprintf("%d writable nodes", len(w))
	}
	if w[0] != s.holder {
		return false, fmt.Sprintf("writable %s but holder %q", w[0], s.holder)
	}
	for _, n := range s.nodes {
		if n.agent == nil {
			return false, n.name + " agent down"
		}
		if n.name == s.holder {
			continue
		}
		if want := s.wantUpstream(n); !n.pg.running || !n.pg.ready || !n.pg.inRecovery || n.pg.upstream != want {
			return false, fmt.Sprintf("%s not streaming from %s (%s)", n.name, want, n.pg.String())
		}
	}
	return true, ""
}

// State is a one-line summary of every node, for failure messages.
func (s *Sim) State() string {
	parts := []string{fmt.Sprintf("holder=%q", s.holder)}
	for _, n := range s.nodes {
		agent := "agent=up"
		switch {
		case n.agent == nil:
			agent = "agent=down"
		case n.frozen:
			agent = "agent=frozen"
		case n.agent.busy != nil:
			agent = "agent=busy(" + string(n.agent.busy.Action) + ")"
		}
		parts = append(parts, fmt.Sprintf("%s[%s %s]", n.name, agent, n.pg.String()))
	}
	return strings.Join(parts, " ")
}

// wantUpstream is whom a healthy cluster's standby streams from: its replicatefrom
// member when that one streams from the holder itself, else the holder.
func (s *Sim) wantUpstream(n *node) string {
	from := ha.ReplicateFrom(s.cfg.Tags[n.name])
	if up := s.node(from); up != nil && up != n && from != s.holder && up.agent != nil && s.streaming(up) && up.pg.upstream == s.holder {
		return from
	}
	return s.holder
}
