package agent

import (
	"context"
	"errors"

	"github.com/warden-ha/warden/internal/api"
	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/ha"
)

// Observation is one look at the local PostgreSQL: what the core needs and what the
// REST status shows.
type Observation struct {
	ha.Postgres
	// State is Patroni's state word: running, starting, stopped, crashed, ...
	State               string
	ServerVersion       int
	PostmasterStartTime string
	ReceivedLSN         uint64
	ReplayedLSN         uint64
	ReplayedTimestamp   *string
	ReplayPaused        bool
	ReplicationState    string
	Replication         []api.ReplicationRow
	// PendingRestart: parameters in the configuration files wait for a restart; the
	// reason names each with the value in force and the one a restart applies.
	PendingRestart       bool
	PendingRestartReason map[string]cluster.ParamChange
	// NoAnswer: the postmaster runs and the health query (or the connection for it) got
	// no answer before its deadline; an error reply is an answer.
	NoAnswer bool
}

// Promotion is what a promotion produced: the timeline switch to record in history.
type Promotion struct {
	// OldTimeline is the timeline that ended at SwitchLSN.
	OldTimeline int
	SwitchLSN   uint64
}

// Node is the local PostgreSQL as the executor drives it. Every method is bounded by its
// context; long ones (Bootstrap, Clone, Follow, StartPrimary, Promote) run in the
// agent's background worker.
type Node interface {
	// Observe looks at the data directory, the postmaster and, when it runs, one query.
	Observe(ctx context.Context, members []cluster.Member) Observation
	// Exits delivers a wake-up the moment the postmaster exits.
	Exits() <-chan struct{}
	// Bootstrap runs initdb, writes the configuration, starts PostgreSQL as a primary and
	// creates the roles; it returns the new system identifier.
	Bootstrap(ctx context.Context) (string, error)
	// Clone creates a replica with the replica creation methods (pg_basebackup from the
	// member by default) and starts it; a member without a name means no source, so only
	// methods marked no_leader run.
	Clone(ctx context.Context, from cluster.Member) error
	// Follow makes PostgreSQL a replica streaming from upstream (no primary_conninfo
	// when nil): if the data diverged from the leader's timeline it rewinds (or re-clones
	// when rewind cannot work), then writes the recovery settings and starts or reloads.
	// upstream is the leader itself unless the replica cascades; leader may be nil (no
	// check).
	Follow(ctx context.Context, upstream, leader *cluster.Member) error
	// StartPrimary starts PostgreSQL as a primary after a crash, waiting until it is ready.
	StartPrimary(ctx context.Context) error
	// Promote runs the pre_promote script, then promotes the replica, waits for it, and
	// checkpoints so that pg_rewind can use it as a source. A failed script returns an
	// error wrapping ErrPrePromote with PostgreSQL untouched.
	Promote(ctx context.Context) (Promotion, error)
	// Stop stops PostgreSQL in the given mode; a stopped server is not an error.
	Stop(ctx context.Context, mode ha.StopMode) error
	// EnsureSlots makes the local slots match the targets (create, drop, advance) and
	// returns the permanent slots' positions and retained member slots, for the leader to publish.
	EnsureSlots(ctx context.Context, t ha.SlotTargets) (ha.SlotsPublished, error)
	// CopySlots copies the named logical slots from the leader into this replica,
	// restarting PostgreSQL to load them.
	CopySlots(ctx context.Context, leader cluster.Member, names []string) error
	// Checkpoint runs CHECKPOINT, so a following shutdown checkpoint is short.
	Checkpoint(ctx context.Context) error
	// Restart stops PostgreSQL (fast) and starts it again in the role it had.
	Restart(ctx context.Context) error
	// Reinitialize removes the data directory and clones it again from leader.
	Reinitialize(ctx context.Context, leader cluster.Member) error
	// SetSyncStandbyNames sets synchronous_standby_names and reloads; release hands
	// the parameter back to the configuration.
	SetSyncStandbyNames(ctx context.Context, value string, release bool) error
}

// ErrPrePromote: the pre_promote script exited non-zero (or could not run), so the
// promotion did not happen; the node releases the leader key and backs off.
var ErrPrePromote = errors.New("pre_promote script failed")
