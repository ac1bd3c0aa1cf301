package ha

import (
	"strings"
	"testing"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
)

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func settings() Settings {
	return Settings{
		Name: "pg-1", TTL: 30 * time.Second, LoopWait: 10 * time.Second, RetryTimeout: 10 * time.Second,
		MaximumLagOnFailover: 1 << 20, PrimaryStartTimeout: 300 * time.Second, FailoverPriority: 1,
		CanBootstrap: true, UseSlots: true,
	}
}

func sysid() *string { s := "7300000000000000001"; return &s }

func snapshot(leader string, members ...string) *cluster.Cluster {
	c := &cluster.Cluster{Initialize: sysid(), Config: map[string]any{"ttl": 30}, HasHistory: true, History: []cluster.HistoryEntry{}}
	if leader != "" {
		c.Leader = &cluster.Leader{Name: leader}
	}
	for _, m := range members {
		c.Members = append(c.Members, cluster.Member{Name: m, State: "running", Role: cluster.RoleReplica})
	}
	return c
}

var primaryPG = Postgres{SysID: "7300000000000000001", Running: true, Ready: true, Timeline: 1, WAL: 1000}
var replicaPG = Postgres{SysID: "7300000000000000001", Running: true, Ready: true, InRecovery: true, Timeline: 1, WAL: 1000}

func with(pg Postgres, f func(*Postgres)) Postgres { f(&pg); return pg }

func TestDecide(t *testing.T) {
	tests := []struct {
		name   string
		in     Input
		plan   string
		reason string
	}{
		{
			name:   "empty cluster: bootstrap",
			in:     Input{Cluster: &cluster.Cluster{}, PG: Postgres{DataDirEmpty: true}},
			plan:   "take-initialize -> bootstrap",
			reason: "trying to bootstrap a new cluster",
		},
		{
			name:   "bootstrap in progress elsewhere: wait",
			in:     Input{Cluster: &cluster.Cluster{Initialize: new(string)}, PG: Postgres{DataDirEmpty: true}},
			reason: "waiting for leader to bootstrap",
		},
		{
			name:   "leader exists, empty data dir: clone",
			in:     Input{Cluster: snapshot("pg-2", "pg-2"), PG: Postgres{DataDirEmpty: true}},
			plan:   "clone(pg-2)",
			reason: "trying to bootstrap from leader 'pg-2'",
		},
		{
			name:   "steady leader",
			in:     Input{Cluster: snapshot("pg-1", "pg-1", "pg-2", "pg-3"), PG: primaryPG, LastRefresh: t0.Add(-5 * time.Second)},
			plan:   "refresh-leader -> ensure-slots(pg_2,pg_3)",
			reason: "no action. I am (pg-1), the leader with the lock",
		},
		{
			name:   "lock holder still in recovery: promote",
			in:     Input{Cluster: snapshot("pg-1", "pg-1"), PG: replicaPG},
			plan:   "refresh-leader -> promote",
			reason: "promoted self to leader because I had the session lock",
		},
		{
			name:   "steady replica",
			in:     Input{Cluster: snapshot("pg-2", "pg-1", "pg-2"), PG: with(replicaPG, func(p *Postgres) { p.Upstream = "pg-2" })},
			plan:   "ensure-slots()",
			reason: "no action. I am (pg-1), a secondary, and following a leader (pg-2)",
		},
		{
			name:   "replica of an old leader: re-point",
			in:     Input{Cluster: snapshot("pg-3", "pg-1", "pg-3"), PG: with(replicaPG, func(p *Postgres) { p.Upstream = "pg-2" })},
			plan:   "follow(pg-3)",
			reason: "changing primary_conninfo to follow a leader (pg-3)",
		},
		{
			name: "replica stopped by the primary's raised max_connections restarts",
			in: Input{Cluster: snapshot("pg-2", "pg-1", "pg-2"), PG: with(replicaPG, func(p *Postgres) {
				p.Upstream, p.Insufficient = "pg-2", []string{"max_connections = 100 is lower than on the primary (200)"}
			})},
			plan:   "restart",
			reason: "restarting: replay is paused because hot standby is not possible with insufficient parameter settings (max_connections = 100 is lower than on the primary (200)); a restart starts it with the primary's values",
		},
		{
			name: "paused cluster: the stopped replica is left alone",
			in: Input{Settings: func() Settings { s := settings(); s.Pause = true; return s }(), Cluster: snapshot("pg-2", "pg-1", "pg-2"), PG: with(replicaPG, func(p *Postgres) {
				p.Upstream, p.Insufficient = "pg-2", []string{"max_wal_senders = 5 is lower than on the primary (10)"}
			})},
			reason: "PAUSE: not restarting in maintenance mode: replay is paused because hot standby is not possible with insufficient parameter settings (max_wal_senders = 5 is lower than on the primary (10)); a restart starts it with the primary's values",
		},
		{
			name: "lock holder that cannot promote restarts first",
			in: Input{Cluster: snapshot("pg-1", "pg-1"), PG: with(replicaPG, func(p *Postgres) {
				p.Insufficient = []string{"max_connections = 100 is lower than on the primary (200)"}
			})},
			plan:   "refresh-leader -> restart",
			reason: "restarting before promotion: replay is paused because hot standby is not possible with insufficient parameter settings (max_connections = 100 is lower than on the primary (200)); a restart starts it with the primary's values",
		},
		{
			name:   "primary without the lock demotes at once",
			in:     Input{Cluster: snapshot("pg-2", "pg-1", "pg-2"), PG: primaryPG},
			plan:   "stop(immediate) -> follow(pg-2)",
			reason: "demoting self because I do not have the lock and I was a leader",
		},
		{
			name:   "no leader, healthiest replica promotes",
			in:     Input{Cluster: snapshot("", "pg-1", "pg-2"), PG: replicaPG, Peers: []Peer{{Name: "pg-2", Reachable: true, InRecovery: true, WAL: 900, FailoverPriority: 1}}},
			plan:   "take-leader -> promote",
			reason: "promoted self to leader by acquiring session lock",
		},
		{
			name:   "no leader, a peer is ahead",
			in:     Input{Cluster: snapshot("", "pg-1", "pg-2"), PG: replicaPG, Peers: []Peer{{Name: "pg-2", Reachable: true, InRecovery: true, WAL: 2000, FailoverPriority: 1}}},
			reason: "following a different leader because i am not the healthiest node: Wal position of pg-2 is ahead of my wal position",
		},
		{
			name:   "no leader, unreachable peers are ignored",
			in:     Input{Cluster: snapshot("", "pg-1", "pg-2"), PG: replicaPG, Peers: []Peer{{Name: "pg-2", WAL: 5000}}},
			plan:   "take-leader -> promote",
			reason: "promoted self to leader by acquiring session lock",
		},
		{
			name:   "no leader, old primary still alive",
			in:     Input{Cluster: snapshot("", "pg-1", "pg-2"), PG: replicaPG, Peers: []Peer{{Name: "pg-2", Reachable: true, WAL: 900}}},
			reason: "following a different leader because i am not the healthiest node: Primary (pg-2) is still alive",
		},
		{
			name: "no leader, too far behind the last leader position",
			in: Input{Cluster: func() *cluster.Cluster {
				c := snapshot("", "pg-1")
				c.Status.Optime = 1000 + 2<<20
				return c
			}(), PG: replicaPG},
			reason: "following a different leader because i am not the healthiest node: my wal position exceeds maximum replication lag (2097152 > 1048576 bytes)",
		},
		{
			name:   "no leader, equal position, higher priority peer wins",
			in:     Input{Cluster: snapshot("", "pg-1", "pg-2"), PG: replicaPG, Peers: []Peer{{Name: "pg-2", Reachable: true, InRecovery: true, WAL: 1000, FailoverPriority: 2}}},
			reason: "following a different leader because i am not the healthiest node: pg-2 has equal wal position and a higher failover_priority",
		},
		{
			name: "no leader, nofailover never races",
			in: Input{Cluster: snapshot("", "pg-1"), PG: replicaPG, Settings: func() Settings {
				s := settings()
				s.NoFailover = true
				return s
			}()},
			reason: "following a different leader because I am not allowed to promote",
		},
		{
			name:   "no leader, running primary takes the lock",
			in:     Input{Cluster: snapshot("", "pg-1", "pg-2"), PG: primaryPG},
			plan:   "take-leader -> ensure-slots(pg_2)",
			reason: "acquired session lock as a leader",
		},
		{
			name:   "crashed primary holding the lock restarts as primary",
			in:     Input{Cluster: snapshot("pg-1", "pg-1", "pg-2"), PG: Postgres{SysID: "7300000000000000001", WasPrimary: true}},
			plan:   "refresh-leader -> start-primary",
			reason: "starting primary after failure",
		},
		{
			name:   "lock holder that cannot start gives the lock up",
			in:     Input{Cluster: snapshot("pg-1", "pg-1", "pg-2"), PG: Postgres{SysID: "7300000000000000001"}, StartFailed: true},
			plan:   "release-leader",
			reason: "removed leader key after trying and failing to start postgres",
		},
		{
			name:   "crashed replica restarts following the leader",
			in:     Input{Cluster: snapshot("pg-2", "pg-1", "pg-2"), PG: Postgres{SysID: "7300000000000000001"}},
			plan:   "follow(pg-2)",
			reason: "starting as a secondary",
		},
		{
			name:   "primary start timeout with a failover target",
			in:     Input{Cluster: snapshot("pg-1", "pg-1", "pg-2"), PG: Postgres{SysID: "7300000000000000001", Running: true}, Busy: &Busy{Action: KindStartPrimary, Since: t0.Add(-301 * time.Second)}},
			plan:   "cancel-busy -> stop(immediate) -> release-leader",
			reason: "stopped PostgreSQL because of startup timeout",
		},
		{
			name:   "primary start within timeout keeps the lock",
			in:     Input{Cluster: snapshot("pg-1", "pg-1", "pg-2"), PG: Postgres{SysID: "7300000000000000001", Running: true}, Busy: &Busy{Action: KindStartPrimary, Since: t0.Add(-10 * time.Second)}},
			plan:   "refresh-leader",
			reason: "updated leader lock during start-primary",
		},
		{
			name:   "DCS down, lease still trusted: primary keeps running",
			in:     Input{PG: primaryPG, LastRefresh: t0.Add(-12 * time.Second)},
			reason: "DCS is not accessible: continuing as primary for 8s, until the leader lease can no longer be trusted",
		},
		{
			name:   "DCS down past ttl - retry_timeout: primary demotes",
			in:     Input{PG: primaryPG, LastRefresh: t0.Add(-20 * time.Second)},
			plan:   "stop(immediate) -> follow()",
			reason: "demoted self because DCS is not accessible and I was a leader",
		},
		{
			name:   "DCS down, replica does nothing",
			in:     Input{PG: replicaPG},
			reason: "DCS is not accessible",
		},
		{
			name:   "lock lost while primary",
			in:     Input{Cluster: snapshot("pg-1", "pg-1"), PG: primaryPG, LockLost: true, LastRefresh: t0.Add(-time.Second)},
			plan:   "stop(immediate) -> follow()",
			reason: "demoted self because failed to update leader lock in DCS",
		},
		{
			name:   "graceful shutdown of the leader",
			in:     Input{Cluster: snapshot("pg-1", "pg-1"), PG: primaryPG, Shutdown: true},
			plan:   "stop(fast) -> release-leader",
			reason: "shutting down: stopped PostgreSQL, then released the leader key",
		},
		{
			name:   "system ID mismatch exits",
			in:     Input{Cluster: snapshot("pg-2", "pg-2"), PG: with(replicaPG, func(p *Postgres) { p.SysID = "7399999999999999999" })},
			plan:   "exit",
			reason: "system ID mismatch, node pg-1 belongs to a different cluster: 7300000000000000001 != 7399999999999999999 (the cluster's initialize key holds 7300000000000000001, the data directory holds 7399999999999999999); refusing to join, the data directory is left untouched",
		},
		{
			name: "existing data, no initialize key: take over",
			in: Input{Cluster: func() *cluster.Cluster {
				c := snapshot("", "pg-1")
				c.Initialize = nil
				return c
			}(), PG: primaryPG},
			plan:   "write-initialize(7300000000000000001,if-absent) -> take-leader -> ensure-slots()",
			reason: "taking over the existing cluster (system identifier 7300000000000000001): acquired session lock as a leader",
		},
		{
			name: "leader rewrites a missing config key",
			in: Input{Cluster: func() *cluster.Cluster {
				c := snapshot("pg-1", "pg-1")
				c.Config = nil
				return c
			}(), PG: primaryPG},
			plan:   "write-config -> refresh-leader -> ensure-slots()",
			reason: "no action. I am (pg-1), the leader with the lock",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			if in.Settings.Name == "" {
				in.Settings = settings()
			}
			in.Now = t0
			out := Decide(in)
			if got := out.Plan.String(); got != tc.plan {
				t.Errorf("plan = %q, want %q", got, tc.plan)
			}
			if out.Reason != tc.reason {
				t.Errorf("reason = %q, want %q", out.Reason, tc.reason)
			}
			if out.Plan.Has(KindPromote) && !out.Plan.Has(KindTakeLeader) && !strings.Contains(out.Plan.String(), "refresh-leader") {
				t.Errorf("promote without taking or refreshing the lock: %s", out.Plan)
			}
		})
	}
}

func withFailover(c *cluster.Cluster, f cluster.Failover) *cluster.Cluster {
	c.Failover = &f
	return c
}

func TestManualFailoverAndPause(t *testing.T) {
	paused := settings()
	paused.Pause = true
	healthyPeer := []Peer{{Name: "pg-2", Reachable: true, InRecovery: true, WAL: 1000, FailoverPriority: 1}}
	tests := []struct {
		name    string
		in      Input
		plan    string
		reason  string
		refused string
	}{
		{
			name:   "switchover: the leader demotes gracefully when the candidate is healthy",
			in:     Input{Cluster: withFailover(snapshot("pg-1", "pg-1", "pg-2"), cluster.Failover{Leader: "pg-1", Candidate: "pg-2"}), PG: primaryPG, Peers: healthyPeer},
			plan:   "refresh-leader -> demote",
			reason: "switchover: demoting myself",
		},
		{
			name:   "failover to a candidate that cannot take over is dropped",
			in:     Input{Cluster: withFailover(snapshot("pg-1", "pg-1", "pg-2"), cluster.Failover{Candidate: "pg-2"}), PG: primaryPG},
			plan:   "refresh-leader -> clear-failover",
			reason: "manual failover: no healthy members found, failover is not possible",
		},
		{
			name:   "switchover naming another leader is dropped",
			in:     Input{Cluster: withFailover(snapshot("pg-1", "pg-1", "pg-2"), cluster.Failover{Leader: "pg-3", Candidate: "pg-2"}), PG: primaryPG, Peers: healthyPeer},
			plan:   "refresh-leader -> clear-failover",
			reason: "switchover: leader name does not match: pg-3 != pg-1",
		},
		{
			name:   "the new leader clears the request that made it leader",
			in:     Input{Cluster: withFailover(snapshot("pg-1", "pg-1", "pg-2"), cluster.Failover{Leader: "pg-2", Candidate: "pg-1"}), PG: primaryPG},
			plan:   "refresh-leader -> clear-failover",
			reason: "switchover: I am already the leader, no need to failover",
		},
		{
			name:   "scheduled switchover in the future waits",
			in:     Input{Cluster: withFailover(snapshot("pg-1", "pg-1", "pg-2"), cluster.Failover{Leader: "pg-1", Candidate: "pg-2", ScheduledAt: "2026-11-21T13:00:00Z"}), PG: primaryPG, Peers: healthyPeer},
			plan:   "refresh-leader -> ensure-slots(pg_2)",
			reason: "Awaiting switchover at 2026-11-21T13:00:00Z (in 3600 seconds)",
		},
		{
			name:   "stale scheduled switchover is cleaned up",
			in:     Input{Cluster: withFailover(snapshot("pg-1", "pg-1", "pg-2"), cluster.Failover{Leader: "pg-1", Candidate: "pg-2", ScheduledAt: "2026-11-21T11:00:00Z"}), PG: primaryPG, Peers: healthyPeer},
			plan:   "refresh-leader -> clear-failover",
			reason: "Found a stale failover value, cleaning up",
		},
		{
			name:   "race: the named candidate wins even when a peer is ahead",
			in:     Input{Cluster: withFailover(snapshot("", "pg-1", "pg-2"), cluster.Failover{Leader: "pg-2", Candidate: "pg-1"}), PG: replicaPG, Peers: []Peer{{Name: "pg-3", Reachable: true, InRecovery: true, WAL: 5000}}},
			plan:   "take-leader -> promote",
			reason: "promoted self to leader by acquiring session lock",
		},
		{
			name:   "race: others let a healthy named candidate win",
			in:     Input{Cluster: withFailover(snapshot("", "pg-1", "pg-2"), cluster.Failover{Leader: "pg-3", Candidate: "pg-2"}), PG: replicaPG, Peers: healthyPeer},
			reason: "following a different leader because i am not the healthiest node: switchover to pg-2 is in progress",
		},
		{
			name:   "paused: a crashed primary is not restarted and gives the lock up",
			in:     Input{Settings: paused, Cluster: snapshot("pg-1", "pg-1", "pg-2"), PG: Postgres{SysID: "7300000000000000001", WasPrimary: true}},
			plan:   "release-leader",
			reason: "PAUSE: removed leader lock because postgres is not running",
		},
		{
			name:   "paused: a switchover to a named candidate demotes the leader",
			in:     Input{Settings: paused, Cluster: withFailover(snapshot("pg-1", "pg-1", "pg-2"), cluster.Failover{Leader: "pg-1", Candidate: "pg-2"}), PG: primaryPG, Peers: healthyPeer},
			plan:   "refresh-leader -> demote",
			reason: "PAUSE: switchover: demoting myself",
		},
		{
			name:   "paused: the primary demoted by a switchover starts as a replica, as Patroni's demote does",
			in:     Input{Settings: paused, Cluster: snapshot("pg-2", "pg-1", "pg-2"), PG: Postgres{SysID: "7300000000000000001", Timeline: 1}, Demoted: true},
			plan:   "follow(pg-2)",
			reason: "PAUSE: starting as a secondary",
		},
		{
			name:   "paused: a replica stopped by hand stays stopped",
			in:     Input{Settings: paused, Cluster: snapshot("pg-2", "pg-1", "pg-2"), PG: Postgres{SysID: "7300000000000000001", Timeline: 1, Standby: true}},
			reason: "PAUSE: postgres is not running",
		},
		{
			name:   "paused: replicas never promote on their own",
			in:     Input{Settings: paused, Cluster: snapshot("", "pg-1", "pg-2"), PG: replicaPG},
			reason: "PAUSE: no action. I am (pg-1)",
		},
		{
			name:   "paused: the primary keeps running when the DCS is gone",
			in:     Input{Settings: paused, PG: primaryPG, LastRefresh: t0.Add(-time.Hour)},
			reason: "PAUSE: continue to run as primary after failing to update leader lock in DCS",
		},
		{
			name:   "paused: shutdown leaves PostgreSQL and the leader key",
			in:     Input{Settings: paused, Cluster: snapshot("pg-1", "pg-1"), PG: primaryPG, Shutdown: true},
			reason: "PAUSE: Leader key is not deleted and Postgresql is not stopped due paused state",
		},
		{
			name:   "restart request on the leader keeps the lock",
			in:     Input{Cluster: snapshot("pg-1", "pg-1", "pg-2"), PG: primaryPG, Request: &Request{Kind: RequestRestart}},
			plan:   "refresh-leader -> restart",
			reason: "restarting PostgreSQL on request",
		},
		{
			name:    "reinitialize is refused on the leader",
			in:      Input{Cluster: snapshot("pg-1", "pg-1", "pg-2"), PG: primaryPG, Request: &Request{Kind: RequestReinitialize}},
			reason:  "refused reinitialize: I am the leader",
			refused: "I am the leader, can not reinitialize",
		},
		{
			name:   "reinitialize a replica",
			in:     Input{Cluster: snapshot("pg-2", "pg-1", "pg-2"), PG: replicaPG, Request: &Request{Kind: RequestReinitialize}},
			plan:   "stop(immediate) -> reinitialize(pg-2)",
			reason: "reinitializing on request: removing the data directory and cloning from leader 'pg-2'",
		},
		{
			name:    "a request while busy is refused",
			in:      Input{Cluster: snapshot("pg-2", "pg-1", "pg-2"), PG: replicaPG, Busy: &Busy{Action: KindClone, Since: t0}, Request: &Request{Kind: RequestRestart}},
			reason:  "clone in progress",
			refused: "clone already in progress",
		},
		{
			name:   "reinitialize with force cancels the running action",
			in:     Input{Cluster: snapshot("pg-2", "pg-1", "pg-2"), PG: replicaPG, Busy: &Busy{Action: KindFollow, Since: t0}, Request: &Request{Kind: RequestReinitialize, Force: true}},
			plan:   "cancel-busy -> stop(immediate) -> reinitialize(pg-2)",
			reason: "reinitialize requested with force: cancelled follow, cloning from leader 'pg-2'",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			if in.Settings.Name == "" {
				in.Settings = settings()
			}
			in.Now = t0
			out := Decide(in)
			if got := out.Plan.String(); got != tc.plan {
				t.Errorf("plan = %q, want %q", got, tc.plan)
			}
			if out.Reason != tc.reason {
				t.Errorf("reason = %q, want %q", out.Reason, tc.reason)
			}
			if out.Refused != tc.refused {
				t.Errorf("refused = %q, want %q", out.Refused, tc.refused)
			}
		})
	}
}

func TestSynchronousReplication(t *testing.T) {
	syncOn := settings()
	syncOn.SynchronousMode = true
	strict := syncOn
	strict.SynchronousModeStrict = true
	two := syncOn
	two.SynchronousNodeCount = 2
	withSync := func(c *cluster.Cluster, leader string, standbys ...string) *cluster.Cluster {
		c.Sync = &cluster.SyncState{Leader: leader, SyncStandby: standbys}
		return c
	}
	primaryWith := func(names string, rows ...Replica) Postgres {
		pg := primaryPG
		pg.SyncStandbyNames = names
		pg.Replication = rows
		return pg
	}
	tests := []struct {
		name   string
		in     Input
		plan   string
		reason string
	}{
		{
			name: "first standby: the parameter first, /sync claimed empty",
			in:   Input{Settings: syncOn, Cluster: snapshot("pg-1", "pg-1", "pg-2", "pg-3"), PG: primaryWith("", Replica{Name: "pg-2", State: "streaming", SyncState: "async", FlushLSN: 900})},
			plan: `refresh-leader -> write-sync() -> set-sync-standbys("\"pg-2\"") -> ensure-slots(pg_2,pg_3)`,
		},
		{
			name: "the standby reports sync and caught up: it enters /sync",
			in: Input{Settings: syncOn, Cluster: withSync(snapshot("pg-1", "pg-1", "pg-2", "pg-3"), "pg-1"), SyncGUCSetAt: 950,
				PG: primaryWith(`"pg-2"`, Replica{Name: "pg-2", State: "streaming", SyncState: "sync", FlushLSN: 1000})},
			plan: `refresh-leader -> write-sync(pg-2) -> ensure-slots(pg_2,pg_3)`,
		},
		{
			name: "sync but not yet past the parameter change: not in /sync yet",
			in: Input{Settings: syncOn, Cluster: withSync(snapshot("pg-1", "pg-1", "pg-2", "pg-3"), "pg-1"), SyncGUCSetAt: 1200,
				PG: primaryWith(`"pg-2"`, Replica{Name: "pg-2", State: "streaming", SyncState: "sync", FlushLSN: 1000})},
			plan: `refresh-leader -> ensure-slots(pg_2,pg_3)`,
		},
		{
			name: "the sync standby is gone: /sync shrinks before the parameter",
			in: Input{Settings: syncOn, Cluster: withSync(snapshot("pg-1", "pg-1", "pg-2", "pg-3"), "pg-1", "pg-2"),
				PG: primaryWith("pg-2", Replica{Name: "pg-3", State: "streaming", SyncState: "async", FlushLSN: 1000})},
			plan: `refresh-leader -> write-sync() -> set-sync-standbys("\"pg-3\"") -> ensure-slots(pg_2,pg_3)`,
		},
		{
			name: "strict mode with no standby blocks writes",
			in:   Input{Settings: strict, Cluster: withSync(snapshot("pg-1", "pg-1", "pg-2"), "pg-1"), PG: primaryWith("pg-2")},
			plan: `refresh-leader -> set-sync-standbys("*") -> ensure-slots(pg_2)`,
		},
		{
			name: "two synchronous standbys",
			in: Input{Settings: two, Cluster: withSync(snapshot("pg-1", "pg-1", "pg-2", "pg-3"), "pg-1"), PG: primaryWith("",
				Replica{Name: "pg-2", State: "streaming", SyncState: "async", FlushLSN: 1000}, Replica{Name: "pg-3", State: "streaming", SyncState: "async", FlushLSN: 1000})},
			plan: `refresh-leader -> set-sync-standbys("2 (\"pg-2\",\"pg-3\")") -> ensure-slots(pg_2,pg_3)`,
		},
		{
			name: "nosync members are never chosen",
			in: Input{Settings: syncOn, Cluster: func() *cluster.Cluster {
				c := withSync(snapshot("pg-1", "pg-1", "pg-2"), "pg-1")
				c.Members[1].Tags = map[string]any{"nosync": true}
				return c
			}(), PG: primaryWith("", Replica{Name: "pg-2", State: "streaming", SyncState: "async", FlushLSN: 1000})},
			plan: `refresh-leader -> ensure-slots(pg_2)`,
		},
		{
			// A nostream member has no walsender, so this row cannot happen unless it
			// connects by hand; it is still never chosen, and keeps no slot.
			name: "nostream members are never chosen",
			in: Input{Settings: syncOn, Cluster: func() *cluster.Cluster {
				c := withSync(snapshot("pg-1", "pg-1", "pg-2"), "pg-1")
				c.Members[1].Tags = map[string]any{"nostream": true}
				return c
			}(), PG: primaryWith("", Replica{Name: "pg-2", State: "streaming", SyncState: "async", FlushLSN: 1000})},
			plan: `refresh-leader -> ensure-slots()`,
		},
		{
			name: "sync mode turned off: /sync deleted, parameter handed back",
			in:   Input{Settings: settings(), Cluster: withSync(snapshot("pg-1", "pg-1", "pg-2"), "pg-1", "pg-2"), PG: primaryWith("pg-2")},
			plan: `refresh-leader -> delete-sync -> set-sync-standbys(released) -> ensure-slots(pg_2)`,
		},
		{
			name: "sync mode off: a value kept from before the agent restarted is handed back",
			in: Input{Settings: settings(), Cluster: snapshot("pg-1", "pg-1", "pg-2"), PG: func() Postgres {
				pg := primaryWith("pg-2")
				pg.SyncNamesHeld = true
				return pg
			}()},
			plan: `refresh-leader -> set-sync-standbys(released) -> ensure-slots(pg_2)`,
		},
		{
			name:   "race: an asynchronous replica never promotes in sync mode",
			in:     Input{Settings: syncOn, Cluster: withSync(snapshot("", "pg-1", "pg-2", "pg-3"), "pg-3", "pg-2"), PG: replicaPG},
			reason: "following a different leader because i am not the healthiest node: synchronous mode is on and I am not a synchronous standby",
		},
		{
			name:   "race: the sync standby promotes, claiming /sync and the parameter first",
			in:     Input{Settings: syncOn, Cluster: withSync(snapshot("", "pg-1", "pg-2", "pg-3"), "pg-3", "pg-1"), PG: replicaPG, Peers: []Peer{{Name: "pg-2", Reachable: true, InRecovery: true, WAL: 5000}}},
			plan:   `take-leader -> write-sync() -> set-sync-standbys("") -> promote`,
			reason: "promoted self to leader by acquiring session lock",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Now = t0
			out := Decide(in)
			if got := out.Plan.String(); got != tc.plan {
				t.Errorf("plan = %s, want %s", got, tc.plan)
			}
			if tc.reason != "" && out.Reason != tc.reason {
				t.Errorf("reason = %q, want %q", out.Reason, tc.reason)
			}
		})
	}
	if got := syncStandbyNames([]string{"pg_1", "first", "a\"b"}, false); got != `3 (pg_1,"first","a""b")` {
		t.Errorf("quoting: %s", got)
	}
}
