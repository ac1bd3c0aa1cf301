package sim

import (
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/warden-ha/warden/internal/ha"
)

// simFailsafe is an agent's failsafe_mode memory, as internal/agent keeps it.
type simFailsafe struct {
	dcsOK        bool
	members      map[string]string
	confirmed    map[string]time.Time
	acceptedAt   time.Time
	acceptedFrom string
	started      time.Time
}

// answers: m's REST API answers n's requests (both agents up, no partition between them).
func (s *Sim) answers(n, m *node) bool {
	return m.agent != nil && !m.frozen && !m.isolated && !n.isolated
}

// failsafeRound is the primary's POST /failsafe to every other member listed in
// /failsafe after a failed store read; each request is answered at once.
func (s *Sim) failsafeRound(n *node, a *agent) {
	f := &a.failsafe
	if !s.settings(n).FailsafeMode || a.lastRefresh.IsZero() || !n.pg.writable() {
		return
	}
	if _, listed := f.members[n.name]; !listed {
		return
	}
	for _, name := range slices.Sorted(maps.Keys(f.members)) {
		m := s.node(name)
		if name == n.name || m == nil {
			continue
		}
		if !s.answers(n, m) {
			s.logf(n, "Request failed to %s: POST %s (timed out)", name, f.members[name])
			continue
		}
		// The member reads the store itself when its loop's last read succeeded.
		leader := m.pg.writable() || !m.agent.lastRefresh.IsZero()
		ans := ha.AnswerFailsafe(s.settings(m), leader, m.agent.failsafe.dcsOK && s.reachable(m))
		s.logf(n, "Got response from %s %s: %s", name, f.members[name], ans.Message)
		if !ans.Accept {
			continue
		}
		m.agent.failsafe.acceptedAt, m.agent.failsafe.acceptedFrom = s.now, n.name
		if f.confirmed == nil {
			f.confirmed = map[string]time.Time{}
		}
		f.confirmed[name] = s.now
	}
}

func (s *Sim) failsafeInput(n *node, a *agent) ha.Failsafe {
	f := &a.failsafe
	in := ha.Failsafe{Confirmed: f.confirmed, AcceptedAt: f.acceptedAt, AcceptedFrom: f.acceptedFrom, AgentStart: f.started}
	if f.members != nil {
		in.Members = slices.Sorted(maps.Keys(f.members))
	}
	if s.cfg.FailsafeMajority {
		in.Confirmed = majorityAsAll(n.name, in.Members, f.confirmed)
	}
	return in
}

// majorityAsAll is the rejected majority variant: when the primary and the members that
// confirmed form a majority of the listed members, the others count as confirmed at the
// earliest confirmation.
func majorityAsAll(self string, members []string, confirmed map[string]time.Time) map[string]time.Time {
	votes, earliest := 0, time.Time{}
	for _, m := range members {
		t, ok := confirmed[m]
		switch {
		case m == self:
			votes++
		case ok:
			votes++
			if earliest.IsZero() || t.Before(earliest) {
				earliest = t
			}
		}
	}
	if earliest.IsZero() || 2*votes <= len(members) {
		return confirmed
	}
	all := maps.Clone(confirmed)
	for _, m := range members {
		if _, ok := all[m]; !ok && m != self {
			all[m] = earliest
		}
	}
	return all
}

// writeFailsafe is the leader keeping /failsafe after a successful acquire or refresh.
func (s *Sim) writeFailsafe(n *node, a *agent) {
	a.failsafe.confirmed = nil
	if !s.settings(n).FailsafeMode {
		return
	}
	want := map[string]string{n.name: n.apiURL}
	if cl := a.lastCluster; cl != nil {
		for _, m := range cl.Members {
			want[m.Name] = m.APIURL
		}
		if maps.Equal(want, cl.Failsafe) {
			return
		}
	}
	value, _ := json.Marshal(want)
	if n.store.SetFailsafe(s.ctx, value) == nil {
		a.failsafe.members = want
	}
}
