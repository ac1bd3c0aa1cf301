package api

import (
	"context"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
)

// ReplicationRow is one pg_stat_replication row as /patroni shows it.
type ReplicationRow struct {
	Usename         string `json:"usename"`
	ApplicationName string `json:"application_name"`
	ClientAddr      string `json:"client_addr"`
	State           string `json:"state"`
	SyncState       string `json:"sync_state"`
	SyncPriority    int    `json:"sync_priority"`
}

// Status is the node state the agent publishes after every loop and after every state
// change. Handlers read it through an atomic pointer and never query PostgreSQL or etcd.
type Status struct {
	Name  string
	Scope string
	// State is Patroni's PostgreSQL state string: running, starting, stopped, crashed,
	// creating replica, initializing new cluster, ...
	State string
	// Role is primary or replica when PostgreSQL answers, else the agent's own role
	// (uninitialized, demoted, ...).
	Role cluster.Role
	// Dialect is the Patroni major version whose words /patroni and /metrics speak.
	Dialect             cluster.Dialect
	PostgresReachable   bool
	ServerVersion       int
	PostmasterStartTime string
	// Primary: WAL location. Replica: received/replayed locations.
	XLogLocation      uint64
	ReceivedLocation  uint64
	ReplayedLocation  uint64
	ReplayedTimestamp *string
	ReplayPaused      bool
	Timeline          int
	ReplicationState  string
	Replication       []ReplicationRow
	// LockValidUntil: this node holds the leader lock until then (ttl after the last
	// successful refresh); zero when it does not hold it.
	LockValidUntil time.Time
	// DCSAvailable: the last cluster read succeeded and is at most ttl old.
	DCSAvailable    bool
	ClusterUnlocked bool
	DCSLastSeen     time.Time
	// LeaderOptime is /status.optime from the last cluster read (for ?lag=).
	LeaderOptime uint64
	// MaximumLagOnFailover is the dynamic setting, /readiness's default lag (Patroni 4.1).
	MaximumLagOnFailover uint64
	Tags                 map[string]any
	SysID                string
	PendingRestart       bool
	// PendingRestartReason is Patroni 3.3's {param: {old_value, new_value}}.
	PendingRestartReason map[string]cluster.ParamChange
	// ScheduledRestart is {"schedule": iso8601, filters...} while a restart is scheduled.
	ScheduledRestart map[string]any
	Pause            bool
	SyncStandby      bool
	SyncMode         bool
	// QuorumMode: synchronous_mode is quorum; a replica in /sync is then a quorum
	// standby, not a sync standby.
	QuorumMode bool
	// NextLoop is when the HA loop is next scheduled; used by /liveness.
	NextLoop time.Time
	TTL      time.Duration
	// StandbyCluster: the dynamic config has a standby_cluster section; the lock holder
	// then answers /standby-leader, not /primary.
	StandbyCluster bool
	// WatchdogFailed: the watchdog is required but unhealthy (/patroni watchdog_failed).
	WatchdogFailed bool
	// FailsafeActive: failsafe mode keeps the primary running without the DCS.
	FailsafeActive bool
}

// Source is what the API needs from the agent.
type Source interface {
	// Status is the last published status; never nil after start.
	Status() *Status
	// Cluster reads the cluster from the DCS now (GET /cluster).
	Cluster(ctx context.Context) (*cluster.Cluster, error)
}
