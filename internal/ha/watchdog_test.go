package ha

import (
	"testing"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
)

func TestWatchdog(t *testing.T) {
	wd := settings()
	wd.Watchdog = true
	wdPaused := wd
	wdPaused.Pause = true
	peer := Peer{Name: "pg-2", Reachable: true, InRecovery: true, WAL: 900, FailoverPriority: 1}
	held := t0.Add(-5 * time.Second)
	tests := []struct {
		name   string
		in     Input
		plan   string
		reason string
	}{
		{
			name:   "replica wins the race: the watchdog is activated after the lock, before promote",
			in:     Input{Settings: wd, Cluster: snapshot("", "pg-1", "pg-2"), PG: replicaPG, Peers: []Peer{peer}},
			plan:   "take-leader -> activate-watchdog -> promote",
			reason: "promoted self to leader by acquiring session lock",
		},
		{
			name:   "running primary takes the lock and activates the watchdog",
			in:     Input{Settings: wd, Cluster: snapshot("", "pg-1", "pg-2"), PG: primaryPG},
			plan:   "take-leader -> activate-watchdog -> ensure-slots(pg_2)",
			reason: "acquired session lock as a leader",
		},
		{
			name:   "lock holder still in recovery: activate, then promote",
			in:     Input{Settings: wd, Cluster: snapshot("pg-1", "pg-1"), PG: replicaPG},
			plan:   "refresh-leader -> activate-watchdog -> promote",
			reason: "promoted self to leader because I had the session lock",
		},
		{
			name:   "primary holding the lock after an agent restart activates it",
			in:     Input{Settings: wd, Cluster: snapshot("pg-1", "pg-1", "pg-2"), PG: primaryPG, LastRefresh: held},
			plan:   "refresh-leader -> activate-watchdog -> ensure-slots(pg_2)",
			reason: "no action. I am (pg-1), the leader with the lock",
		},
		{
			name:   "active watchdog: fed by the refresh, no new step",
			in:     Input{Settings: wd, Cluster: snapshot("pg-1", "pg-1", "pg-2"), PG: primaryPG, LastRefresh: held, WatchdogActive: true},
			plan:   "refresh-leader -> ensure-slots(pg_2)",
			reason: "no action. I am (pg-1), the leader with the lock",
		},
		{
			name:   "paused: no watchdog",
			in:     Input{Settings: wdPaused, Cluster: snapshot("pg-1", "pg-1", "pg-2"), PG: primaryPG, LastRefresh: held},
			plan:   "refresh-leader -> ensure-slots(pg_2)",
			reason: "PAUSE: no action. I am (pg-1), the leader with the lock",
		},
		{
			name:   "required but unusable: a replica does not race",
			in:     Input{Settings: wd, Cluster: snapshot("", "pg-1", "pg-2"), PG: replicaPG, Peers: []Peer{peer}, WatchdogUnusable: true},
			reason: "following a different leader because i am not the healthiest node: Watchdog device is not usable",
		},
		{
			name:   "required but unusable: not even as the named failover candidate",
			in:     Input{Settings: wd, Cluster: withFailover(snapshot("", "pg-1", "pg-2"), cluster.Failover{Candidate: "pg-1"}), PG: replicaPG, WatchdogUnusable: true},
			reason: "following a different leader because i am not the healthiest node: Watchdog device is not usable",
		},
		{
			name:   "required but unusable: a running primary without the lock does not take it",
			in:     Input{Settings: wd, Cluster: snapshot("", "pg-1", "pg-2"), PG: primaryPG, WatchdogUnusable: true},
			plan:   "stop(immediate) -> follow()",
			reason: "Demoting self because watchdog could not be activated",
		},
		{
			name:   "activation failed after taking the lock: hand it back unpromoted",
			in:     Input{Settings: wd, Cluster: snapshot("pg-1", "pg-1", "pg-2"), PG: replicaPG, LastRefresh: held, WatchdogUnusable: true},
			plan:   "release-leader",
			reason: "Not promoting self because watchdog could not be activated",
		},
		{
			name:   "activation failed on a running primary: stop it and hand the lock back",
			in:     Input{Settings: wd, Cluster: snapshot("pg-1", "pg-1", "pg-2"), PG: primaryPG, LastRefresh: held, WatchdogUnusable: true},
			plan:   "stop(immediate) -> release-leader -> follow()",
			reason: "Demoting self because watchdog could not be activated",
		},
		{
			name:   "lock holder with PostgreSQL down does not restart it as primary",
			in:     Input{Settings: wd, Cluster: snapshot("pg-1", "pg-1", "pg-2"), PG: Postgres{SysID: "7300000000000000001"}, LastRefresh: held, WatchdogUnusable: true},
			plan:   "release-leader",
			reason: "Not promoting self because watchdog could not be activated",
		},
		{
			name:   "required but unusable: no bootstrap",
			in:     Input{Settings: wd, Cluster: &cluster.Cluster{}, PG: Postgres{DataDirEmpty: true}, WatchdogUnusable: true},
			reason: "not bootstrapping a new cluster: Watchdog device is not usable",
		},
		{
			name:   "a peer whose watchdog failed is no competitor",
			in:     Input{Settings: wd, Cluster: snapshot("", "pg-1", "pg-2"), PG: replicaPG, Peers: []Peer{{Name: "pg-2", Reachable: true, InRecovery: true, WAL: 5000, WatchdogFailed: true}}},
			plan:   "take-leader -> activate-watchdog -> promote",
			reason: "promoted self to leader by acquiring session lock",
		},
		{
			name: "switchover: a peer whose watchdog failed is no candidate",
			in: Input{Settings: wd, Cluster: withFailover(snapshot("pg-1", "pg-1", "pg-2"), cluster.Failover{Leader: "pg-1"}), PG: primaryPG, LastRefresh: held, WatchdogActive: true,
				Peers: []Peer{{Name: "pg-2", Reachable: true, InRecovery: true, WAL: 1000, WatchdogFailed: true}}},
			plan:   "refresh-leader -> clear-failover",
			reason: "switchover: no healthy members found, failover is not possible",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Now = t0
			out := Decide(in)
			if got := out.Plan.String(); got != tc.plan {
				t.Errorf("plan = %q, want %q", got, tc.plan)
			}
			if out.Reason != tc.reason {
				t.Errorf("reason = %q, want %q", out.Reason, tc.reason)
			}
			if out.Plan.Has(KindPromote) && in.WatchdogUnusable {
				t.Errorf("promote with an unusable required watchdog: %s", out.Plan)
			}
		})
	}
}
