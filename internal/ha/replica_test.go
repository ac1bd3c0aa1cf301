package ha

import (
	"testing"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
)

func TestCloneWithoutLeader(t *testing.T) {
	noLeader := func() Settings { s := settings(); s.CloneWithoutLeader = true; return s }
	nofailoverNoLeader := func() Settings { s := noLeader(); s.NoFailover = true; return s }
	unlocked := func(init *string) *cluster.Cluster {
		c := snapshot("", "pg-2")
		c.Initialize = init
		return c
	}
	for _, tc := range []struct {
		name   string
		s      Settings
		c      *cluster.Cluster
		plan   string
		reason string
	}{
		{"leader present: every method, from the leader", noLeader(), snapshot("pg-2", "pg-2"),
			"clone(pg-2)", "trying to bootstrap from leader 'pg-2'"},
		{"initialized, no leader, a no_leader method: clone without a source", noLeader(), unlocked(sysid()),
			"clone(without leader)", "trying to bootstrap (without leader)"},
		{"initialized, no leader, no no_leader method: wait", settings(), unlocked(sysid()),
			"", "waiting for leader to bootstrap"},
		{"bootstrap in progress elsewhere: wait even with a no_leader method", noLeader(), unlocked(new(string)),
			"", "waiting for leader to bootstrap"},
		{"no initialize key: a node that may bootstrap bootstraps", noLeader(), unlocked(nil),
			"take-initialize -> bootstrap", "trying to bootstrap a new cluster"},
		{"no initialize key, nofailover: restore without leader (Patroni)", nofailoverNoLeader(), unlocked(nil),
			"clone(without leader)", "trying to bootstrap (without leader)"},
		{"paused: nothing", func() Settings { s := noLeader(); s.Pause = true; return s }(), unlocked(sysid()),
			"", "PAUSE: running with empty data directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := Decide(Input{Now: t0, Settings: tc.s, Cluster: tc.c, PG: Postgres{DataDirEmpty: true}})
			if out.Plan.String() != tc.plan || out.Reason != tc.reason {
				t.Fatalf("got %q / %q, want %q / %q", out.Plan.String(), out.Reason, tc.plan, tc.reason)
			}
		})
	}
}

func TestPrePromoteFailure(t *testing.T) {
	peerBehind := []Peer{{Name: "pg-2", Reachable: true, InRecovery: true, WAL: 900, FailoverPriority: 1}}
	for _, tc := range []struct {
		name   string
		in     Input
		plan   string
		reason string
	}{
		{
			name:   "holder whose pre_promote failed releases the key with backoff",
			in:     Input{Cluster: snapshot("pg-1", "pg-1", "pg-2"), PG: replicaPG, PrePromoteFailed: true, LastRefresh: t0.Add(-time.Second)},
			plan:   "release-leader(backoff)",
			reason: "Promotion cancelled because the pre-promote script failed",
		},
		{
			name:   "also when its PostgreSQL went down meanwhile: never started as primary",
			in:     Input{Cluster: snapshot("pg-1", "pg-1", "pg-2"), PG: with(replicaPG, func(p *Postgres) { p.Running, p.Ready = false, false }), PrePromoteFailed: true},
			plan:   "release-leader(backoff)",
			reason: "Promotion cancelled because the pre-promote script failed",
		},
		{
			name:   "not the holder any more: nothing to release, follow",
			in:     Input{Cluster: snapshot("pg-2", "pg-1", "pg-2"), PG: with(replicaPG, func(p *Postgres) { p.Upstream = "pg-2" }), PrePromoteFailed: true},
			plan:   "ensure-slots()",
			reason: "no action. I am (pg-1), a secondary, and following a leader (pg-2)",
		},
		{
			name:   "healthiest, but released ttl-1s ago: skip the race",
			in:     Input{Cluster: snapshot("", "pg-1", "pg-2"), PG: replicaPG, Peers: peerBehind, PrePromoteReleased: t0.Add(-29 * time.Second)},
			reason: "following a different leader because i am not the healthiest node: " + PrePromoteBackoff,
		},
		{
			name:   "released just now: skip the race",
			in:     Input{Cluster: snapshot("", "pg-1", "pg-2"), PG: replicaPG, Peers: peerBehind, PrePromoteReleased: t0},
			reason: "following a different leader because i am not the healthiest node: " + PrePromoteBackoff,
		},
		{
			name:   "released ttl ago: races again",
			in:     Input{Cluster: snapshot("", "pg-1", "pg-2"), PG: replicaPG, Peers: peerBehind, PrePromoteReleased: t0.Add(-30 * time.Second)},
			plan:   "take-leader -> promote",
			reason: "promoted self to leader by acquiring session lock",
		},
		{
			name: "backoff beats a failover request naming this node",
			in: Input{Cluster: func() *cluster.Cluster {
				c := snapshot("", "pg-1", "pg-2")
				c.Failover = &cluster.Failover{Candidate: "pg-1"}
				return c
			}(), PG: replicaPG, Peers: peerBehind, PrePromoteReleased: t0.Add(-time.Second)},
			reason: "following a different leader because i am not the healthiest node: " + PrePromoteBackoff,
		},
		{
			name:   "a leader elsewhere: the backoff does not matter",
			in:     Input{Cluster: snapshot("pg-2", "pg-1", "pg-2"), PG: with(replicaPG, func(p *Postgres) { p.Upstream = "pg-2" }), PrePromoteReleased: t0},
			plan:   "ensure-slots()",
			reason: "no action. I am (pg-1), a secondary, and following a leader (pg-2)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Now, in.Settings = t0, settings()
			out := Decide(in)
			if out.Plan.String() != tc.plan || out.Reason != tc.reason {
				t.Fatalf("got %q / %q, want %q / %q", out.Plan.String(), out.Reason, tc.plan, tc.reason)
			}
		})
	}
}
