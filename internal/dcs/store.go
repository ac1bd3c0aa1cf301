// Package dcs defines what Warden needs from its consensus store.
//
// The leader lock is the key <prefix>leader holding the bare member name, attached to the
// holder's lease (TTL = ttl). It is created only if absent, in one transaction. What the lock
// guarantees: at most one member holds the key at any store revision. What it does not
// guarantee: that the holder knows it lost the key. A holder that cannot refresh the lease
// for ttl loses the key while it may still believe it holds it; Warden's core therefore
// demotes a primary that has not refreshed successfully for retry_timeout, which is earlier
// than the lease can expire because ttl >= loop_wait + 2*retry_timeout is enforced.
package dcs

import (
	"context"
	"errors"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
)

// ErrLockLost means the store answered, and the leader key is not ours (held by another
// member, or gone with our lease).
var ErrLockLost = errors.New("leader key is not held by this member")

// ErrNotFound means a key that must exist is absent.
var ErrNotFound = errors.New("key not found")

// Options configures a store for one member of one cluster.
type Options struct {
	// Prefix is /<namespace>/<scope>/ with a trailing slash, e.g. /service/batman/.
	Prefix string
	// Member is this node's name (the leader key's value, members/<Member>).
	Member string
	// TTL of the lease carrying the leader and member keys.
	TTL time.Duration
	// RetryTimeout bounds every operation.
	RetryTimeout time.Duration
}

// Store is the consensus store as the agent uses it. Every method is bounded by the
// context and by RetryTimeout. Errors other than the sentinels mean "store unreachable".
type Store interface {
	// Load reads the whole cluster prefix in one request.
	Load(ctx context.Context) (*cluster.Cluster, error)
	// Changes delivers a wake-up when the leader, config, failover or status key changes.
	// It is only a wake-up: re-Load before deciding.
	Changes() <-chan struct{}
	// TouchMember writes members/<Member> on this node's lease, granting a new lease when
	// the old one is gone, and keeps the lease alive.
	TouchMember(ctx context.Context, value []byte) error
	// AcquireLeader creates the leader key with this member's name on its lease if the
	// key is absent. It returns false when another member holds it.
	AcquireLeader(ctx context.Context) (bool, error)
	// RefreshLeader keeps the lease alive and confirms the leader key still holds this
	// member's name on this member's lease; ErrLockLost otherwise. On success (and on
	// AcquireLeader's) the key is on a lease of the TTL last given to SetTTL: the agent
	// counts its deadlines with that TTL, so a failed refresh must leave the key where
	// it was rather than on a lease of another TTL.
	RefreshLeader(ctx context.Context) error
	// ReleaseLeader deletes the leader key only if it still holds this member's name.
	ReleaseLeader(ctx context.Context) error
	// Initialize with create=true creates initialize="" only if absent (false if present);
	// with create=false it writes the system identifier unconditionally.
	Initialize(ctx context.Context, create bool, sysid string) (bool, error)
	// CancelInitialize deletes the initialize key (failed bootstrap).
	CancelInitialize(ctx context.Context) error
	// SetConfig writes the config key; revision > 0 makes it a compare-and-swap on the
	// key's mod revision, revision == 0 creates it only if absent, revision < 0 writes blindly.
	SetConfig(ctx context.Context, value []byte, revision int64) (bool, error)
	// SetFailover writes the failover key with the same revision rules as SetConfig.
	SetFailover(ctx context.Context, value []byte, revision int64) (bool, error)
	// SetSync writes the sync key with the same revision rules as SetConfig.
	SetSync(ctx context.Context, value []byte, revision int64) (bool, error)
	// DeleteSync deletes the sync key (compare on revision when > 0).
	DeleteSync(ctx context.Context, revision int64) error
	// SetStatus writes the status key (blind put).
	SetStatus(ctx context.Context, value []byte) error
	// SetHistory writes the history key (blind put).
	SetHistory(ctx context.Context, value []byte) error
	// SetFailsafe writes the failsafe key (blind put).
	SetFailsafe(ctx context.Context, value []byte) error
	// DeleteCluster removes every key under the prefix.
	DeleteCluster(ctx context.Context) error
	// SetTTL changes the lease TTL; the next TouchMember grants a lease with it.
	SetTTL(ttl time.Duration)
	// Close stops watches and releases client resources. It does not revoke the lease:
	// the member key expires after ttl, as in Patroni.
	Close() error
}
