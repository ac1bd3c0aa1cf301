package ha

import (
	"testing"
	"time"
)

// TestDeadlineCountsWithTheHeldLease: after ttl changes, the primary's demotion deadline
// counts with the shorter of the configured ttl and the TTL of the lease its key is on.
// Raised 30 s -> 60 s with the refresh that would move the key failing, the key still
// expires 30 s after the last refresh: with retry_timeout 10 s the primary must stop
// writing 20 s after it, not 50 s.
func TestDeadlineCountsWithTheHeldLease(t *testing.T) {
	const s30, s60 = 30 * time.Second, 60 * time.Second
	demoteNoDCS := "demoted self because DCS is not accessible and I was a leader"
	demoteLock := "demoted self because failed to update leader lock in DCS"
	steady := "no action. I am (pg-1), the leader with the lock"
	tests := []struct {
		name       string
		ttl, held  time.Duration
		since      time.Duration // since the last successful refresh was sent
		dcsDown    bool
		wantReason string
	}{
		{name: "raised, DCS unreachable, past the old lease's deadline", ttl: s60, held: s30, since: 21 * time.Second, dcsDown: true, wantReason: demoteNoDCS},
		{name: "raised, refresh failing, past the old lease's deadline", ttl: s60, held: s30, since: 21 * time.Second, wantReason: demoteLock},
		{name: "raised, before the old lease's deadline", ttl: s60, held: s30, since: 19 * time.Second, wantReason: steady},
		{name: "raised, key already on the new lease", ttl: s60, held: s60, since: 21 * time.Second, wantReason: steady},
		{name: "raised, new lease, past its deadline", ttl: s60, held: s60, since: 51 * time.Second, wantReason: demoteLock},
		{name: "lowered, the new ttl counts", ttl: s30, held: s60, since: 21 * time.Second, wantReason: demoteLock},
		{name: "lowered, DCS unreachable", ttl: s30, held: s60, since: 21 * time.Second, dcsDown: true, wantReason: demoteNoDCS},
		{name: "held lease unknown: the configured ttl", ttl: s60, held: 0, since: 21 * time.Second, wantReason: steady},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := settings()
			s.TTL = tc.ttl
			in := Input{Now: t0, Settings: s, PG: primaryPG, LastRefresh: t0.Add(-tc.since), LeaseTTL: tc.held}
			if !tc.dcsDown {
				in.Cluster = snapshot("pg-1", "pg-1", "pg-2")
				in.Settings.UseSlots = false
			}
			out := Decide(in)
			if out.Reason != tc.wantReason {
				t.Errorf("reason = %q, want %q (plan %s)", out.Reason, tc.wantReason, out.Plan)
			}
			demoting := out.Plan.Has(KindStop)
			if want := tc.wantReason != steady; demoting != want {
				t.Errorf("plan %s stops PostgreSQL = %v, want %v", out.Plan, demoting, want)
			}
		})
	}
}

func TestHeldTTLBoundsEveryDeadline(t *testing.T) {
	s := settings()
	s.TTL = 60 * time.Second
	last := t0
	if got, want := HeldTTL(s, 30*time.Second), 30*time.Second; got != want {
		t.Errorf("HeldTTL(ttl 60s, held 30s) = %s, want %s", got, want)
	}
	if got, want := HeldTTL(s, 90*time.Second), 60*time.Second; got != want {
		t.Errorf("HeldTTL(ttl 60s, held 90s) = %s, want %s", got, want)
	}
	if got, want := LeaseDeadline(s, 30*time.Second, last), last.Add(20*time.Second); !got.Equal(want) {
		t.Errorf("LeaseDeadline = %s after the refresh, want 20s", got.Sub(last))
	}
	// The fence acts after the agent's own deadline and before the old lease expires.
	if got := FenceDeadline(s, 30*time.Second, last); !got.After(last.Add(20*time.Second)) || !got.Before(last.Add(30*time.Second)) {
		t.Errorf("FenceDeadline = %s after the refresh, want within (20s, 30s)", got.Sub(last))
	}
}
