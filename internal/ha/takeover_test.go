package ha

import (
	"testing"

	"github.com/warden-ha/warden/internal/cluster"
)

// unclaimed is a cluster in the DCS without initialize or leader key, with the given
// members registered.
func unclaimed(members ...cluster.Member) *cluster.Cluster {
	return &cluster.Cluster{Members: members}
}

func TestTakeOver(t *testing.T) {
	const id = "7300000000000000001"
	stoppedPrimary := Postgres{SysID: id, Timeline: 1}
	stoppedStandby := Postgres{SysID: id, Timeline: 1, Standby: true}
	self := cluster.Member{Name: "pg-1", State: "stopped", Role: cluster.RoleReplica}
	dataPeer := cluster.Member{Name: "pg-2", State: "stopped", Role: cluster.RoleReplica}
	emptyPeer := cluster.Member{Name: "pg-3", State: "stopped", Role: cluster.RoleUninitialized}
	noFailoverPeer := cluster.Member{Name: "pg-4", State: "running", Role: cluster.RoleReplica, Tags: map[string]any{"nofailover": true}}
	nofailover := settings()
	nofailover.NoFailover = true
	paused := settings()
	paused.Pause = true
	tests := []struct {
		name     string
		settings *Settings
		cluster  *cluster.Cluster
		pg       Postgres
		plan     string
		reason   string
	}{
		{
			name:    "running primary: claim the cluster and take the leader key",
			cluster: unclaimed(self, emptyPeer),
			pg:      primaryPG,
			plan:    "write-initialize(" + id + ",if-absent) -> take-leader -> ensure-slots(pg_3)",
			reason:  "taking over the existing cluster (system identifier " + id + "): acquired session lock as a leader",
		},
		{
			name:    "stopped primary: claim, lock, start as primary (no promotion, no new timeline)",
			cluster: unclaimed(self),
			pg:      stoppedPrimary,
			plan:    "write-initialize(" + id + ",if-absent) -> take-leader -> start-primary",
			reason:  "taking over the existing cluster (system identifier " + id + "): starting it as the primary it was",
		},
		{
			name:    "crashed primary: the same, crash recovery happens in the server",
			cluster: unclaimed(self, dataPeer),
			pg:      with(stoppedPrimary, func(p *Postgres) { p.WasPrimary = true }),
			plan:    "write-initialize(" + id + ",if-absent) -> take-leader -> start-primary",
			reason:  "taking over the existing cluster (system identifier " + id + "): starting it as the primary it was",
		},
		{
			name:    "primary still starting: wait",
			cluster: unclaimed(self),
			pg:      Postgres{SysID: id, Running: true},
			reason:  "waiting for the existing PostgreSQL (system identifier " + id + ") to accept connections before taking it over",
		},
		{
			name:    "unknown system identifier: leave it alone",
			cluster: unclaimed(self),
			pg:      Postgres{},
			reason:  "data directory is not empty, but its system identifier is unknown: not taking it over",
		},
		{
			name:    "running standby, only candidate: claim, lock, promote",
			cluster: unclaimed(self, emptyPeer, noFailoverPeer),
			pg:      replicaPG,
			plan:    "write-initialize(" + id + ",if-absent) -> take-leader -> promote",
			reason:  "taking over the existing cluster (system identifier " + id + "): promoted self to leader by acquiring session lock",
		},
		{
			name:    "running standby streaming from a live primary: never promoted",
			cluster: unclaimed(self),
			pg:      with(replicaPG, func(p *Postgres) { p.Streaming = true }),
			reason:  "no initialize key in DCS and PostgreSQL is a standby streaming from a running primary: waiting for that primary to be taken over first",
		},
		{
			name:    "stopped standby, only candidate: start it without upstream first",
			cluster: unclaimed(self),
			pg:      stoppedStandby,
			plan:    "follow()",
			reason:  "taking over the existing cluster (system identifier " + id + "): starting the standby without upstream, the only candidate",
		},
		{
			name:    "running standby beside another member with data: wait for the primary",
			cluster: unclaimed(self, dataPeer, emptyPeer),
			pg:      replicaPG,
			reason:  "no initialize key in DCS and PostgreSQL is a standby: waiting for the primary to be taken over first (other members: pg-2)",
		},
		{
			name:    "stopped standby beside another member with data: left stopped",
			cluster: unclaimed(self, dataPeer),
			pg:      stoppedStandby,
			reason:  "no initialize key in DCS and PostgreSQL is a standby: waiting for the primary to be taken over first (other members: pg-2)",
		},
		{
			name:     "nofailover: ordinary rules, the key is still claimed only if absent",
			settings: &nofailover,
			cluster:  unclaimed(self),
			pg:       stoppedPrimary,
			plan:     "write-initialize(" + id + ",if-absent) -> follow()",
			reason:   "starting as a secondary",
		},
		{
			name:     "paused: nothing is claimed (Patroni writes no initialize key in pause)",
			settings: &paused,
			cluster:  unclaimed(self),
			pg:       stoppedPrimary,
			reason:   "PAUSE: postgres is not running",
		},
		{
			name:    "initialize key being written by a bootstrapping member: ordinary rules",
			cluster: &cluster.Cluster{Initialize: new(string), Members: []cluster.Member{self}},
			pg:      stoppedPrimary,
			plan:    "follow()",
			reason:  "starting as a secondary",
		},
		{
			name:    "leader exists, same system identifier: follow it",
			cluster: snapshot("pg-2", "pg-1", "pg-2"),
			pg:      stoppedPrimary,
			plan:    "follow(pg-2)",
			reason:  "starting as a secondary",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := settings()
			if tc.settings != nil {
				s = *tc.settings
			}
			out := Decide(Input{Now: t0, Settings: s, Cluster: tc.cluster, PG: tc.pg})
			if got := out.Plan.String(); got != tc.plan {
				t.Errorf("plan = %q, want %q", got, tc.plan)
			}
			if out.Reason != tc.reason {
				t.Errorf("reason = %q, want %q", out.Reason, tc.reason)
			}
			if out.Plan.Has(KindTakeLeader) && out.Plan[0].IfAbsent && out.FailReason != "not taking over the existing cluster: another member claimed it first" {
				t.Errorf("a lost claim would be logged as %q", out.FailReason)
			}
			if out.Plan.Has(KindStartPrimary) || out.Plan.Has(KindPromote) {
				if !out.Plan.Has(KindTakeLeader) {
					t.Errorf("start as primary or promote without taking the lock: %s", out.Plan)
				}
			}
		})
	}
}
