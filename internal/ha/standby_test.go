package ha

import (
	"testing"

	"github.com/warden-ha/warden/internal/cluster"
)

const remote = "remote_member:10.0.0.9:5432"

func standbySettings() Settings {
	s := settings()
	s.StandbyCluster = "10.0.0.9:5432"
	return s
}

func TestStandbyCluster(t *testing.T) {
	standbyLeaderPG := with(replicaPG, func(p *Postgres) { p.Upstream = remote })
	tests := []struct {
		name   string
		in     Input
		normal bool // decided with standby_cluster removed from the configuration
		plan   string
		reason string
	}{
		{
			name:   "new standby cluster: the initialize winner clones from the remote primary",
			in:     Input{Cluster: &cluster.Cluster{}, PG: Postgres{DataDirEmpty: true}},
			plan:   "take-initialize -> bootstrap(" + remote + ")",
			reason: "trying to bootstrap a new standby leader",
		},
		{
			name:   "standby leader bootstrapping elsewhere: wait",
			in:     Input{Cluster: &cluster.Cluster{Initialize: new(string)}, PG: Postgres{DataDirEmpty: true}},
			reason: "waiting for standby_leader to bootstrap",
		},
		{
			name:   "cloned standby takes the key as standby leader, no promotion",
			in:     Input{Cluster: snapshot("", "pg-1"), PG: standbyLeaderPG},
			plan:   "take-leader",
			reason: "promoted self to a standby leader by acquiring session lock",
		},
		{
			name:   "steady standby leader refreshes the key and keeps slots for its replicas",
			in:     Input{Cluster: snapshot("pg-1", "pg-1", "pg-2", "pg-3"), PG: standbyLeaderPG},
			plan:   "refresh-leader -> ensure-slots(pg_2,pg_3)",
			reason: "no action. I am (pg-1), the standby leader with the lock",
		},
		{
			name:   "lock holder not yet following the remote re-points, never promotes",
			in:     Input{Cluster: snapshot("pg-1", "pg-1", "pg-2"), PG: with(replicaPG, func(p *Postgres) { p.Upstream = "pg-2" })},
			plan:   "refresh-leader -> follow(" + remote + ")",
			reason: "promoted self to a standby leader because i had the session lock; standby cluster: following the remote primary 10.0.0.9:5432",
		},
		{
			name:   "replica follows the standby leader",
			in:     Input{Cluster: snapshot("pg-2", "pg-1", "pg-2"), PG: with(replicaPG, func(p *Postgres) { p.Upstream = "pg-2" })},
			plan:   "ensure-slots()",
			reason: "no action. I am (pg-1), a secondary, and following a standby leader (pg-2)",
		},
		{
			name:   "replica of a dead standby leader re-points to the new one",
			in:     Input{Cluster: snapshot("pg-3", "pg-1", "pg-3"), PG: with(replicaPG, func(p *Postgres) { p.Upstream = "pg-2" })},
			plan:   "follow(pg-3)",
			reason: "changing primary_conninfo to follow a standby leader (pg-3)",
		},
		{
			name: "standby leader died: the healthiest replica takes the key and follows the remote",
			in: Input{Cluster: snapshot("", "pg-1", "pg-3"), PG: with(replicaPG, func(p *Postgres) { p.Upstream = "pg-2" }),
				Peers: []Peer{{Name: "pg-3", Reachable: true, InRecovery: true, WAL: 900, FailoverPriority: 1}}},
			plan:   "take-leader -> follow(" + remote + ")",
			reason: "promoted self to a standby leader by acquiring session lock",
		},
		{
			name: "a replica behind another does not take the key",
			in: Input{Cluster: snapshot("", "pg-1", "pg-3"), PG: with(replicaPG, func(p *Postgres) { p.Upstream = "pg-2" }),
				Peers: []Peer{{Name: "pg-3", Reachable: true, InRecovery: true, WAL: 2000, FailoverPriority: 1}}},
			reason: "following a different leader because i am not the healthiest node: Wal position of pg-3 is ahead of my wal position",
		},
		{
			name:   "a primary holding the key in a standby cluster is demoted and keeps the key",
			in:     Input{Cluster: snapshot("pg-1", "pg-1", "pg-2"), PG: primaryPG, LastRefresh: t0.Add(-5e9)},
			plan:   "refresh-leader -> stop(immediate) -> follow(" + remote + ")",
			reason: "cannot be a real primary in standby cluster",
		},
		{
			name:   "a primary without the key in a standby cluster is demoted",
			in:     Input{Cluster: snapshot("pg-2", "pg-1", "pg-2"), PG: primaryPG},
			plan:   "stop(immediate) -> follow(pg-2)",
			reason: "cannot be a real primary in a standby cluster",
		},
		{
			name:   "a primary winning the race in a standby cluster stops and follows the remote",
			in:     Input{Cluster: snapshot("", "pg-1"), PG: primaryPG},
			plan:   "take-leader -> stop(immediate) -> follow(" + remote + ")",
			reason: "promoted self to a standby leader by acquiring session lock",
		},
		{
			name:   "stopped standby leader restarts following the remote",
			in:     Input{Cluster: snapshot("pg-1", "pg-1", "pg-2"), PG: Postgres{SysID: "7300000000000000001", Standby: true}},
			plan:   "refresh-leader -> follow(" + remote + ")",
			reason: "starting as a standby leader because i had the session lock",
		},
		{
			name:   "stopped replica of a leaderless standby cluster follows the remote",
			in:     Input{Cluster: snapshot("", "pg-1", "pg-2"), PG: Postgres{SysID: "7300000000000000001", Standby: true}},
			plan:   "follow(" + remote + ")",
			reason: "trying to follow a remote member because standby cluster is unhealthy",
		},
		{
			name:   "new replica clones from the standby leader",
			in:     Input{Cluster: snapshot("pg-2", "pg-2"), PG: Postgres{DataDirEmpty: true}},
			plan:   "clone(pg-2)",
			reason: "trying to bootstrap from leader 'pg-2'",
		},
		{
			name: "replica on a later timeline than the standby leader checks for divergence",
			in: Input{Cluster: func() *cluster.Cluster {
				c := snapshot("pg-2", "pg-1", "pg-2")
				c.Members[1].Timeline = 1
				return c
			}(), PG: with(replicaPG, func(p *Postgres) { p.Upstream, p.Timeline = "pg-2", 2 })},
			plan:   "follow(pg-2)",
			reason: "my timeline 2 is ahead of the standby leader's (1): checking whether my data diverged",
		},
		{
			name: "switchover requested: the standby leader hands the key over",
			in: Input{Cluster: withFailover(snapshot("pg-1", "pg-1", "pg-2"), cluster.Failover{Leader: "pg-1", Candidate: "pg-2"}), PG: standbyLeaderPG,
				Peers: []Peer{{Name: "pg-2", Reachable: true, InRecovery: true, WAL: 1000, FailoverPriority: 1}}},
			plan:   "refresh-leader -> demote",
			reason: "switchover: demoting myself",
		},
		{
			name: "switchover candidate becomes the standby leader",
			in: Input{Cluster: withFailover(snapshot("", "pg-1", "pg-2"), cluster.Failover{Leader: "pg-2", Candidate: "pg-1"}), PG: with(replicaPG, func(p *Postgres) { p.Upstream = "pg-2" }),
				Peers: []Peer{{Name: "pg-2", Reachable: false}}},
			plan:   "take-leader -> follow(" + remote + ")",
			reason: "promoted self to a standby leader by acquiring session lock",
		},
		{
			name:   "standby_cluster removed: the standby leader promotes",
			in:     Input{Cluster: snapshot("pg-1", "pg-1", "pg-2"), PG: standbyLeaderPG},
			normal: true,
			plan:   "refresh-leader -> promote",
			reason: "promoted self to leader because I had the session lock",
		},
		{
			name:   "standby_cluster removed: replicas keep following the (now real) leader",
			in:     Input{Cluster: snapshot("pg-2", "pg-1", "pg-2"), PG: with(replicaPG, func(p *Postgres) { p.Upstream = "pg-2" })},
			normal: true,
			plan:   "ensure-slots()",
			reason: "no action. I am (pg-1), a secondary, and following a leader (pg-2)",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Settings = standbySettings()
			if tc.normal {
				in.Settings.StandbyCluster = ""
			}
			in.Now = t0
			out := Decide(in)
			if got := out.Plan.String(); got != tc.plan {
				t.Errorf("plan = %q, want %q", got, tc.plan)
			}
			if out.Reason != tc.reason {
				t.Errorf("reason = %q, want %q", out.Reason, tc.reason)
			}
			if !tc.normal && (out.Plan.Has(KindPromote) || out.Plan.Has(KindStartPrimary)) {
				t.Errorf("a standby cluster member must never promote or start as primary: %s", out.Plan)
			}
		})
	}
}

// TestStandbyClusterNeverPromotes sweeps the decisions a standby cluster member can
// face and checks none of them promotes or starts a primary.
func TestStandbyClusterNeverPromotes(t *testing.T) {
	pgs := []Postgres{
		{DataDirEmpty: true}, primaryPG, replicaPG,
		{SysID: "7300000000000000001", Standby: true}, {SysID: "7300000000000000001", WasPrimary: true},
		with(replicaPG, func(p *Postgres) { p.Ready = false }),
	}
	clusters := []*cluster.Cluster{
		{}, snapshot("", "pg-1", "pg-2"), snapshot("pg-1", "pg-1", "pg-2"), snapshot("pg-2", "pg-1", "pg-2"),
		withFailover(snapshot("pg-1", "pg-1", "pg-2"), cluster.Failover{Leader: "pg-1", Candidate: "pg-2"}),
		withFailover(snapshot("", "pg-1", "pg-2"), cluster.Failover{Candidate: "pg-1"}),
	}
	for _, pause := range []bool{false, true} {
		for _, pg := range pgs {
			for _, c := range clusters {
				for _, busy := range []*Busy{nil, {Action: KindFollow, Since: t0}} {
					s := standbySettings()
					s.Pause = pause
					out := Decide(Input{Now: t0, Settings: s, Cluster: c, PG: pg, Busy: busy, StartFailed: pause,
						Peers: []Peer{{Name: "pg-2", Reachable: true, InRecovery: true, WAL: 1, FailoverPriority: 1}}})
					if out.Plan.Has(KindPromote) || out.Plan.Has(KindStartPrimary) {
						t.Errorf("pause=%v pg=%+v leader=%q: %s (%s)", pause, pg, c.LeaderName(), out.Plan, out.Reason)
					}
				}
			}
		}
	}
}
