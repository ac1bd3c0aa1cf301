// Package ha is Warden's pure decision core: given what a node observes (its PostgreSQL,
// the cluster as read from the DCS, the other members' reported WAL positions, the time),
// Decide says what the node must do now and why. It performs no I/O, starts no goroutines
// and reads no clock: time arrives as Input.Now, so every decision can be replayed.
//
// Safety argument, in brief:
//   - Promote is planned only when the snapshot shows this node holding the leader key, and
//     always after TakeLeader or RefreshLeader in the same plan; the executor stops at the
//     first failed step, so a failed acquire or refresh never reaches Promote.
//   - A primary that cannot confirm its lease stops accepting writes before the lease can
//     expire: the lease lasts at least ttl after the last successful refresh was sent, and
//     the primary demotes at lastRefresh + ttl - retry_timeout, leaving retry_timeout for
//     the shutdown itself. The rule needs no answer from the store.
//   - A node that finds another member holding the key while it runs as primary stops at
//     once (immediate mode) before following.
//
// Failsafe mode (failsafe_mode, off by default as in Patroni). A primary that cannot read
// the DCS sends POST /failsafe to every other member listed in the /failsafe key. A member
// accepts only if it is not a primary or lock holder and it cannot read the DCS itself;
// having accepted at time r (its clock), it does not race for the leader key before
// r + ttl, and a race it decided before accepting is stopped before the key is taken.
// The primary counts each acceptance from the time the request was sent, s <= r, and
// keeps accepting writes only until min(s over every other listed member) - loop_wait +
// ttl - retry_timeout, on its own monotonic clock (Trusted, LeaseDeadline). Why that is
// safe:
//   - a member that could be promoted must take the key first; the key is held by nobody
//     else only once the primary's lease expired, and a listed member that accepted
//     within ttl does not take it, so every listed member is held back until at least
//     s + ttl > the primary's deadline;
//   - a member missing from a non-empty /failsafe key was never asked, so it never wins
//     a race while failsafe_mode is on (Patroni's rule), and is not waited for either;
//   - a restarted agent may have forgotten an acceptance: it does not race for ttl after
//     its start;
//   - loop_wait + retry_timeout between the deadline and the end of the promise is left
//     for a loop that runs late (the decision that demotes may come up to loop_wait after
//     the deadline), for the shutdown, and for clock-rate differences between machines.
//     The simulator's late-loop fault found the schedule that needs the loop_wait.
//
// Only all members will do. Consider confirmations from a majority instead: partition
// {primary P, replica A} | {replica B, etcd}. A cannot read etcd and confirms; B is not
// reachable from P's side so it cannot confirm, but P and A are a majority, so P keeps
// accepting writes. B reads etcd, sees P's lease expire and no reachable peer ahead of
// it, takes the key and promotes: two primaries, and the writes P acknowledges from then
// on are lost when the partition heals. B never promised anything because nobody could
// ask it; a majority rule is only safe if promotion too needs a majority of the same
// members, with ballot numbers so that promises from an old round cannot be reused — a
// consensus protocol of its own beside etcd's. Warden leaves consensus to etcd. The
// simulator replays this schedule (sim.TestFailsafeMajorityWouldSplitBrain): the
// majority rule yields two writable nodes, the all-members rule does not.
//
// Quorum commit (synchronous_mode: quorum, Patroni 4). The primary runs with
// synchronous_standby_names = 'ANY k (V)' and publishes /sync {leader L, sync_standby: S,
// quorum: q}. The promise /sync makes: every acknowledged commit is on L and on at least
// |S|-q members of S. Hence a promotion rule: a member of S that knows the positions of
// q+1 members of S (itself included), none ahead of it, holds every acknowledged commit,
// because at most q members of S can lack one; so does any node at least as far as L.
// Members outside S (nosync, nostream, not streaming, lagging beyond
// maximum_lag_on_syncnode) never vote and never promote on their own. Target: S = V =
// every eligible streaming standby, k = min(synchronous_node_count, |V|), q = |V| - k;
// strict mode with nobody left writes '*', non-strict an empty value.
// A value 'k (V)', 'ANY k (V)' or 'a' guarantees h(V, k, S) = max(0, k - |V \ S|) holders
// in S for each commit it acknowledges; an empty value and '*' guarantee none. The rules the leader
// keeps (quorumPlan, one change per cycle, checked by TestQuorumStepsStaySafe against a
// model of adversarial acknowledgements and by the simulator's invariant 7):
//   - a parameter may be set only if h(new) >= |S| - q for the published S and q, so
//     the old and the new value are both safe while walsenders reload;
//   - /sync may be written with S' and q' only if h(current parameter, S') >= |S'| - q'
//     and the commits acknowledged earlier are on |S'| - q' members of S': either those
//     the old promise guaranteed that remain in S' (|S| - q - |S \ S'|), or the members
//     that have flushed past SyncGUCSetAt, a position above every commit acknowledged
//     under an earlier value;
//   - so the order is: voters leave /sync before the parameter (q kept); voters join /sync
//     before the parameter with q raised by as many (so a newcomer missing old commits
//     cannot complete a quorum); q is raised before k is lowered and lowered only after
//     k was raised and the voters caught up.
//
// A new leader first writes /sync {itself, [], 0} (nobody may promote but itself, as in
// mode on). A peer whose PostgreSQL is down reports no position and never votes.
// Switchover and failover to a named candidate skip the vote count, as in Patroni.
package ha

import (
	"time"

	"github.com/warden-ha/warden/internal/cluster"
)

// Settings are the timing and policy values the core needs, already validated
// (ttl >= loop_wait + 2*retry_timeout).
type Settings struct {
	Name                 string
	TTL                  time.Duration
	LoopWait             time.Duration
	RetryTimeout         time.Duration
	MaximumLagOnFailover uint64
	PrimaryStartTimeout  time.Duration
	CheckTimeline        bool
	// NoFailover and FailoverPriority come from this node's tags.
	NoFailover       bool
	FailoverPriority int
	// CanBootstrap: the configuration has a bootstrap section, so this node may initdb.
	CanBootstrap bool
	UseSlots     bool
	// ReplicateFrom and NoStream come from this node's tags (replicatefrom, nostream).
	ReplicateFrom string
	NoStream      bool
	// PermanentSlots (dynamic `slots`) and IgnoreSlots (`ignore_slots`), parsed.
	PermanentSlots []Slot
	IgnoreSlots    []SlotMatcher
	// MemberSlotsTTL is Patroni 4's member_slots_ttl (0: a departed member's slot is
	// dropped like any unexpected slot).
	MemberSlotsTTL time.Duration
	// Pause is maintenance mode: no automatic start, stop, promotion or demotion.
	Pause bool
	// Synchronous replication: synchronous_mode (SynchronousQuorum when it is
	// "quorum"), synchronous_mode_strict, synchronous_node_count and
	// maximum_lag_on_syncnode (bytes, <= 0 disables).
	SynchronousMode       bool
	SynchronousQuorum     bool
	SynchronousModeStrict bool
	SynchronousNodeCount  int
	MaximumLagOnSyncnode  int64
	// Watchdog: a watchdog is configured (mode automatic or required); the primary
	// activates it before it promotes or keeps the lock.
	Watchdog bool
	// StandbyCluster names the remote a standby cluster replicates from (see
	// config.Standby.Remote); "" when the cluster is not a standby cluster. Its lock
	// holder is a standby leader: it follows the remote and never promotes.
	StandbyCluster string
	// FailsafeMode is failsafe_mode: a primary that cannot reach the DCS stays primary
	// while every other member listed in /failsafe confirms it over the REST API.
	FailsafeMode bool
	// CloneWithoutLeader: a custom replica method marked no_leader (or no_master) can
	// create this node's data directory while the cluster has no leader, e.g. by
	// restoring a backup from the archive.
	CloneWithoutLeader bool
	// PrimaryHangTimeout is how long the lock holder's PostgreSQL may answer no query
	// at all before it is stopped and the lock released (0: never).
	PrimaryHangTimeout time.Duration
}

// Postgres is the local PostgreSQL as observed this cycle.
type Postgres struct {
	// DataDirEmpty: no initialised cluster in the data directory.
	DataDirEmpty bool
	// SysID from pg_controldata, "" when unknown.
	SysID string
	// Running: the postmaster process is alive.
	Running bool
	// Ready: it accepts connections and the observation query succeeded.
	Ready      bool
	InRecovery bool
	Timeline   int
	// WAL is the position used in leader races: the primary's current LSN, a replica's
	// max(received, replayed).
	WAL uint64
	// Upstream is the member whose address the current recovery configuration points at.
	Upstream string
	// Streaming: the running standby's WAL receiver streams from a primary.
	Streaming bool
	// Standby: the stopped data directory is a standby's (standby.signal, or pg_controldata
	// says it was in recovery).
	Standby bool
	// WasPrimary: pg_controldata says the cluster was last running as a primary
	// ("in production"), i.e. it crashed or was killed while primary.
	WasPrimary bool
	// Replication lists the walsenders (primary only).
	Replication []Replica
	// SyncStandbyNames is synchronous_standby_names as the server uses it.
	SyncStandbyNames string
	// SyncNamesHeld: Warden, not the configuration, sets synchronous_standby_names (set
	// by synchronous mode, or kept from the running server when the agent started).
	SyncNamesHeld bool
	// Insufficient names the settings of a standby whose replay is paused because the
	// primary raised them above the standby's values ("max_connections = 100 is lower
	// than on the primary (200)"): PostgreSQL replays no further, and refuses to promote,
	// until it is restarted with values at least as high.
	Insufficient []string
	// Slots are a replica's replication slots; nil when they were not read.
	Slots []SlotState
	// NoAnswerSince: the postmaster is alive and every health query since then got no
	// answer at all (it timed out; an error reply such as "the database system is
	// starting up" or "too many clients" is an answer). Zero when the last one was
	// answered.
	NoAnswerSince time.Time
}

// Replica is one pg_stat_replication row.
type Replica struct {
	Name      string // application_name
	State     string // streaming, catchup, ...
	SyncState string // sync, potential, async, quorum
	FlushLSN  uint64
}

// Peer is another member's status as fetched from its REST API this cycle.
type Peer struct {
	Name             string
	Reachable        bool
	InRecovery       bool
	WAL              uint64
	Timeline         int
	NoFailover       bool
	FailoverPriority int
	// WatchdogFailed: its watchdog is required but unusable; it may not take over.
	WatchdogFailed bool
}

// Busy describes the long action running in the background worker.
type Busy struct {
	Action Kind
	Since  time.Time
}

// Input is everything a decision depends on.
type Input struct {
	Now      time.Time
	Settings Settings
	// Cluster is nil when the DCS could not be read this cycle.
	Cluster *cluster.Cluster
	PG      Postgres
	// Peers are the other members' statuses; the shell fetches them when the cluster has
	// no leader (the only time they matter).
	Peers []Peer
	// LastRefresh is when the last successful leader acquire or refresh was sent; zero
	// when this node has not held the lock.
	LastRefresh time.Time
	// LeaseTTL is the TTL of the lease the last successful acquire or refresh left the
	// leader key on (zero: unknown, taken as Settings.TTL). After ttl is raised it stays
	// the old value until a refresh moves the key onto a lease of the new TTL.
	LeaseTTL time.Duration
	// LockLost: the store answered the last refresh and the key is not ours.
	LockLost bool
	Busy     *Busy
	// StartFailed: the last attempt to start PostgreSQL ended without a running server.
	StartFailed bool
	// Demoted: this node's last long action was the graceful demotion of a switchover
	// and PostgreSQL has not run since. Patroni's demote starts it again as a replica
	// itself, so this holds in maintenance mode too.
	Demoted bool
	// Shutdown: the agent was asked to stop (SIGTERM).
	Shutdown bool
	// Request is an operator request (REST API) waiting for this cycle.
	Request *Request
	// SyncGUCSetAt is the primary's WAL position at the first observation after
	// synchronous_standby_names last changed (or after the agent started; 0 until then):
	// every commit acknowledged under an earlier value lies at or below it, and a
	// standby counts as synchronous only once it has flushed past it. One loop later
	// than the change, so walsenders that reload late have reloaded.
	SyncGUCSetAt uint64
	// WatchdogActive: the watchdog was activated for this leadership (automatic mode
	// counts it activated even when no device could be used).
	WatchdogActive bool
	// WatchdogUnusable: the watchdog is required but unusable (no writable device, a
	// ttl too short for safety_margin and loop_wait, or a failed activation): this node
	// must not be primary.
	WatchdogUnusable bool
	// SlotCopyFailed is when copying logical slots from the leader last failed.
	SlotCopyFailed time.Time
	// Failsafe is this node's failsafe_mode state.
	Failsafe Failsafe
	// PrePromoteFailed: the last promotion stopped because the pre_promote script
	// failed, before pg_ctl promote, and the key has not been released since.
	PrePromoteFailed bool
	// PrePromoteReleased is when this node last released the leader key voluntarily
	// after a failed pre_promote; it does not race for the key for ttl after it.
	PrePromoteReleased time.Time
}

// RequestKind names an operator request.
type RequestKind string

const (
	RequestRestart      RequestKind = "restart"
	RequestReinitialize RequestKind = "reinitialize"
)

// Request is an operator request the core accepts into a plan or refuses.
type Request struct {
	Kind RequestKind
	// Force (reinitialize): cancel a running long action first.
	Force bool
}

// Output is what the node must do now.
type Output struct {
	Plan Plan
	// Reason is the one-line result in Patroni's wording.
	Reason string
	// FailReason replaces Reason when the plan's first step fails (a lost leader race).
	FailReason string
	// RetryIn, when non-zero, asks for the next cycle sooner than loop_wait.
	RetryIn time.Duration
	// Refused, when the input carried a request, says why it was not accepted; empty
	// means the plan carries it out.
	Refused string
}
