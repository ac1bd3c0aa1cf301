package ha

import (
	"testing"
	"time"
)

func failsafeSettings() Settings {
	s := settings()
	s.FailsafeMode = true
	return s
}

func confirmed(ago ...time.Duration) map[string]time.Time {
	m := map[string]time.Time{}
	for i, d := range ago {
		m[[]string{"pg-2", "pg-3"}[i]] = t0.Add(-d)
	}
	return m
}

var three = []string{"pg-1", "pg-2", "pg-3"}

func TestFailsafePrimaryWithoutDCS(t *testing.T) {
	tests := []struct {
		name   string
		s      Settings
		f      Failsafe
		last   time.Duration // since the last lease refresh
		plan   string
		reason string
	}{
		{
			name:   "every member confirmed: stays primary until the oldest send - loop_wait + ttl - retry_timeout",
			s:      failsafeSettings(),
			f:      Failsafe{Members: three, Confirmed: confirmed(time.Second, 2*time.Second)},
			last:   25 * time.Second,
			reason: "continue to run as a leader because failsafe mode is enabled and all members are accessible (for 8s unless confirmed again)",
		},
		{
			name:   "confirmations just in time",
			s:      failsafeSettings(),
			f:      Failsafe{Members: three, Confirmed: confirmed(9*time.Second, time.Second)},
			last:   40 * time.Second,
			reason: "continue to run as a leader because failsafe mode is enabled and all members are accessible (for 1s unless confirmed again)",
		},
		{
			name:   "one member did not confirm: demotes at the lease deadline",
			s:      failsafeSettings(),
			f:      Failsafe{Members: three, Confirmed: confirmed(time.Second)},
			last:   25 * time.Second,
			plan:   "stop(immediate) -> follow()",
			reason: "demoted self because DCS is not accessible and I was a leader",
		},
		{
			name:   "one member did not confirm, lease still trusted: keeps running on the lease",
			s:      failsafeSettings(),
			f:      Failsafe{Members: three, Confirmed: confirmed(time.Second)},
			last:   12 * time.Second,
			reason: "DCS is not accessible: continuing as primary for 8s, until the leader lease can no longer be trusted",
		},
		{
			name:   "confirmations too old: demotes",
			s:      failsafeSettings(),
			f:      Failsafe{Members: three, Confirmed: confirmed(11*time.Second, time.Second)},
			last:   40 * time.Second,
			plan:   "stop(immediate) -> follow()",
			reason: "demoted self because DCS is not accessible and I was a leader",
		},
		{
			name:   "confirmation exactly at the deadline: demotes",
			s:      failsafeSettings(),
			f:      Failsafe{Members: three, Confirmed: confirmed(10*time.Second, time.Second)},
			last:   40 * time.Second,
			plan:   "stop(immediate) -> follow()",
			reason: "demoted self because DCS is not accessible and I was a leader",
		},
		{
			name:   "failsafe_mode off: confirmations do not count",
			s:      settings(),
			f:      Failsafe{Members: three, Confirmed: confirmed(time.Second, time.Second)},
			last:   25 * time.Second,
			plan:   "stop(immediate) -> follow()",
			reason: "demoted self because DCS is not accessible and I was a leader",
		},
		{
			name:   "not listed in /failsafe: demotes",
			s:      failsafeSettings(),
			f:      Failsafe{Members: []string{"pg-2", "pg-3"}, Confirmed: confirmed(time.Second, time.Second)},
			last:   25 * time.Second,
			plan:   "stop(immediate) -> follow()",
			reason: "demoted self because DCS is not accessible and I was a leader",
		},
		{
			name:   "no /failsafe key read: demotes",
			s:      failsafeSettings(),
			last:   25 * time.Second,
			plan:   "stop(immediate) -> follow()",
			reason: "demoted self because DCS is not accessible and I was a leader",
		},
		{
			name:   "single member cluster: no one to ask",
			s:      failsafeSettings(),
			f:      Failsafe{Members: []string{"pg-1"}},
			last:   25 * time.Second,
			reason: "continue to run as a leader because failsafe mode is enabled and all members are accessible (for 10s unless confirmed again)",
		},
		{
			name:   "never held the lock: confirmations do not make a leader",
			s:      failsafeSettings(),
			f:      Failsafe{Members: three, Confirmed: confirmed(time.Second, time.Second)},
			plan:   "stop(immediate) -> follow()",
			reason: "demoted self because DCS is not accessible and I was a leader",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Now: t0, Settings: tc.s, PG: primaryPG, Failsafe: tc.f}
			if tc.last > 0 {
				in.LastRefresh = t0.Add(-tc.last)
			}
			out := Decide(in)
			if got := out.Plan.String(); got != tc.plan {
				t.Errorf("plan = %q, want %q", got, tc.plan)
			}
			if out.Reason != tc.reason {
				t.Errorf("reason = %q, want %q", out.Reason, tc.reason)
			}
		})
	}
}

// A leader whose key is still in the store when the DCS answers again keeps it while
// the confirmations vouch for it, instead of demoting on its old lease.
func TestFailsafeLeaderRefreshesWhenDCSReturns(t *testing.T) {
	in := Input{Now: t0, Settings: failsafeSettings(), Cluster: snapshot("pg-1", three...), PG: primaryPG,
		LastRefresh: t0.Add(-60 * time.Second), Failsafe: Failsafe{Members: three, Confirmed: confirmed(time.Second, 2*time.Second)}}
	out := Decide(in)
	if got, want := out.Plan.String(), "refresh-leader -> ensure-slots(pg_2,pg_3)"; got != want {
		t.Errorf("plan = %q, want %q (%s)", got, want, out.Reason)
	}
	in.Failsafe.Confirmed = nil
	if got, want := Decide(in).Plan.String(), "stop(immediate) -> follow()"; got != want {
		t.Errorf("without confirmations: plan = %q, want %q", got, want)
	}
}

func TestAnswerFailsafe(t *testing.T) {
	tests := []struct {
		name         string
		mode         bool
		leader       bool
		dcsReachable bool
		want         FailsafeAnswer
	}{
		{"mode off", false, false, false, FailsafeAnswer{Code: 502, Message: "failsafe mode is not enabled"}},
		{"running primary or lock holder", true, true, false, FailsafeAnswer{Code: 500, Message: "Running as a leader"}},
		{"replica that reaches the DCS", true, false, true, FailsafeAnswer{Code: 500, Message: "DCS is accessible"}},
		{"replica cut off from the DCS", true, false, false, FailsafeAnswer{Accept: true, Code: 200, Message: "Accepted"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := settings()
			s.FailsafeMode = tc.mode
			if got := AnswerFailsafe(s, tc.leader, tc.dcsReachable); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestFailsafeHoldsLeaderRace(t *testing.T) {
	peers := []Peer{{Name: "pg-2", Reachable: true, InRecovery: true, WAL: 900, FailoverPriority: 1}}
	tests := []struct {
		name   string
		s      Settings
		f      Failsafe
		peers  []Peer
		plan   string
		reason string
	}{
		{
			name:   "accepted within ttl: does not race",
			s:      failsafeSettings(),
			f:      Failsafe{Members: three, AcceptedAt: t0.Add(-29 * time.Second), AcceptedFrom: "pg-3"},
			reason: "following a different leader because i am not the healthiest node: accepted POST /failsafe from pg-3 29s ago, the leader it vouches for may still be running",
		},
		{
			name:   "accepted ttl ago: races",
			s:      failsafeSettings(),
			f:      Failsafe{Members: three, AcceptedAt: t0.Add(-30 * time.Second), AcceptedFrom: "pg-3"},
			plan:   "take-leader -> promote",
			reason: "promoted self to leader by acquiring session lock",
		},
		{
			name:   "agent started within ttl: does not race",
			s:      failsafeSettings(),
			f:      Failsafe{Members: three, AgentStart: t0.Add(-10 * time.Second)},
			reason: "following a different leader because i am not the healthiest node: started less than ttl ago in failsafe mode, an acceptance given before the restart may still hold",
		},
		{
			name:   "not listed in a non-empty /failsafe: does not race",
			s:      failsafeSettings(),
			f:      Failsafe{Members: []string{"pg-2", "pg-3"}},
			reason: "following a different leader because i am not the healthiest node: not listed in the /failsafe key",
		},
		{
			name:   "a peer ahead but not listed in /failsafe cannot win: races",
			s:      failsafeSettings(),
			f:      Failsafe{Members: []string{"pg-1", "pg-3"}},
			peers:  []Peer{{Name: "pg-2", Reachable: true, InRecovery: true, WAL: 5000, FailoverPriority: 1}},
			plan:   "take-leader -> promote",
			reason: "promoted self to leader by acquiring session lock",
		},
		{
			name:   "empty /failsafe: races",
			s:      failsafeSettings(),
			f:      Failsafe{},
			plan:   "take-leader -> promote",
			reason: "promoted self to leader by acquiring session lock",
		},
		{
			name:   "failsafe_mode off: acceptances do not hold",
			s:      settings(),
			f:      Failsafe{Members: []string{"pg-2"}, AcceptedAt: t0.Add(-time.Second), AcceptedFrom: "pg-3", AgentStart: t0},
			plan:   "take-leader -> promote",
			reason: "promoted self to leader by acquiring session lock",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps := peers
			if tc.peers != nil {
				ps = tc.peers
			}
			out := Decide(Input{Now: t0, Settings: tc.s, Cluster: snapshot("", three...), PG: replicaPG, Peers: ps, Failsafe: tc.f})
			if got := out.Plan.String(); got != tc.plan {
				t.Errorf("plan = %q, want %q", got, tc.plan)
			}
			if out.Reason != tc.reason {
				t.Errorf("reason = %q, want %q", out.Reason, tc.reason)
			}
		})
	}
}

// A running primary whose lease ran out during the outage takes its key back when the
// DCS returns: failsafe never holds a primary back from the race.
func TestFailsafePrimaryRetakesFreeKey(t *testing.T) {
	in := Input{Now: t0, Settings: failsafeSettings(), Cluster: snapshot("", three...), PG: primaryPG,
		LastRefresh: t0.Add(-60 * time.Second), Failsafe: Failsafe{Members: three, AgentStart: t0.Add(-time.Second)}}
	if got, want := Decide(in).Plan.String(), "take-leader -> ensure-slots(pg_2,pg_3)"; got != want {
		t.Errorf("plan = %q, want %q", got, want)
	}
}
