package ha

import (
	"testing"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
)

func TestHungPrimary(t *testing.T) {
	hung := func(since time.Duration) Postgres {
		return Postgres{SysID: "7300000000000000001", Running: true, NoAnswerSince: t0.Add(-since)}
	}
	alone := snapshot("pg-1", "pg-1")
	noFailoverPeer := snapshot("pg-1", "pg-1")
	noFailoverPeer.Members = append(noFailoverPeer.Members, cluster.Member{Name: "pg-2", State: "running", Tags: map[string]any{"nofailover": true}})
	tests := []struct {
		name    string
		cluster *cluster.Cluster
		pg      Postgres
		timeout time.Duration
		pause   bool
		plan    string
		reason  string
	}{
		{
			name: "no answer for the timeout, a replica could take over: stop, then release",
			pg:   hung(61 * time.Second), timeout: time.Minute,
			plan:   "stop(immediate) -> release-leader",
			reason: "stopped PostgreSQL and released the leader key: the running postmaster has answered no query for 1m1s (every health query since 11:58:59.000 timed out; primary_hang_timeout 1m0s)",
		},
		{
			name: "no answer, not yet the timeout: keep the lock",
			pg:   hung(20 * time.Second), timeout: time.Minute,
			plan:   "refresh-leader",
			reason: "updated leader lock while PostgreSQL answers no query (for 20s; the lock is released after primary_hang_timeout 1m0s)",
		},
		{
			name: "no answer, nobody could take over: keep the lock", cluster: alone,
			pg: hung(5 * time.Minute), timeout: time.Minute,
			plan:   "refresh-leader",
			reason: "PostgreSQL has answered no query for 5m0s, but no other member could take over: keeping the leader lock",
		},
		{
			name: "no answer, the only other member has nofailover", cluster: noFailoverPeer,
			pg: hung(5 * time.Minute), timeout: time.Minute,
			plan:   "refresh-leader",
			reason: "PostgreSQL has answered no query for 5m0s, but no other member could take over: keeping the leader lock",
		},
		{
			name: "error replies are answers (starting up, too many clients)",
			pg:   Postgres{SysID: "7300000000000000001", Running: true}, timeout: time.Minute,
			plan:   "refresh-leader",
			reason: "updated leader lock while PostgreSQL is starting up",
		},
		{
			name: "disabled (primary_hang_timeout 0)",
			pg:   hung(time.Hour), timeout: 0,
			plan:   "refresh-leader",
			reason: "updated leader lock while PostgreSQL is starting up",
		},
		{
			name: "maintenance mode", pause: true,
			pg: hung(time.Hour), timeout: time.Minute,
			plan:   "refresh-leader",
			reason: "PAUSE: updated leader lock while PostgreSQL is starting up",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := settings()
			s.PrimaryHangTimeout, s.Pause = tc.timeout, tc.pause
			cl := tc.cluster
			if cl == nil {
				cl = snapshot("pg-1", "pg-1", "pg-2", "pg-3")
			}
			out := Decide(Input{Now: t0, Settings: s, Cluster: cl, PG: tc.pg, LastRefresh: t0.Add(-5 * time.Second)})
			if got := out.Plan.String(); got != tc.plan {
				t.Errorf("plan = %q, want %q", got, tc.plan)
			}
			if out.Reason != tc.reason {
				t.Errorf("reason = %q\nwant     %q", out.Reason, tc.reason)
			}
		})
	}
}

// TestHungReplicaIsNotFailedOver: the rule is about the lock holder; a replica that
// answers nothing is left to its own cycle.
func TestHungReplicaIsNotFailedOver(t *testing.T) {
	s := settings()
	s.PrimaryHangTimeout = time.Minute
	pg := Postgres{SysID: "7300000000000000001", Running: true, NoAnswerSince: t0.Add(-time.Hour)}
	out := Decide(Input{Now: t0, Settings: s, Cluster: snapshot("pg-2", "pg-1", "pg-2"), PG: pg})
	if out.Plan.Has(KindStop) || out.Plan.Has(KindReleaseLeader) {
		t.Errorf("a replica acted on its own hang: %s (%s)", out.Plan, out.Reason)
	}
}
