package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/dcs"
	"github.com/warden-ha/warden/internal/ha"
)

// Timing is one set of HA timings; every set satisfies ttl >= loop_wait + 2*retry_timeout.
type Timing struct {
	Name         string
	TTL          time.Duration
	LoopWait     time.Duration
	RetryTimeout time.Duration
}

var (
	// Default is Patroni's default timing.
	Default = Timing{Name: "ttl30", TTL: 30 * time.Second, LoopWait: 10 * time.Second, RetryTimeout: 10 * time.Second}
	// Tight is the smallest timing in common use.
	Tight = Timing{Name: "ttl5", TTL: 5 * time.Second, LoopWait: time.Second, RetryTimeout: 2 * time.Second}
)

// Profile selects which faults a random schedule may inject.
type Profile string

const (
	// Mixed: kills, restarts, postmaster crashes, graceful stops, partitions, store
	// outages, late loops and failed starts.
	Mixed Profile = "mixed"
	// GracefulOnly: graceful stops and restarts; no acknowledged write may be lost.
	GracefulOnly Profile = "graceful"
	// Frozen: Mixed plus SIGSTOPped agents whose PostgreSQL keeps accepting writes.
	// Two writable nodes are then possible until a fencing process exists: such windows
	// are counted, not failed.
	Frozen Profile = "frozen"
	// Scripted: no random faults and no failed starts; tests inject faults by hand.
	Scripted Profile = "scripted"
	// Failsafe: failsafe_mode on; Mixed faults weighted towards the store being
	// unreachable from some or all nodes, plus nodes cut off from their peers' REST APIs
	// while still reaching the store (asymmetric partitions).
	Failsafe Profile = "failsafe"
)

// Config describes one simulation.
type Config struct {
	Seed    uint64
	Timing  Timing
	Profile Profile
	// PrimaryStartTimeout is passed to the core (0 = fail over rather than restart a
	// crashed primary).
	PrimaryStartTimeout time.Duration
	// Tags are nodes' tags by name (replicatefrom and nostream change whom a node
	// streams from).
	Tags map[string]map[string]any
	// FailsafeMode turns failsafe_mode on (always on in Failsafe schedules).
	FailsafeMode bool
	// FailsafeMajority models the rejected variant in which confirmations from a
	// majority of the members listed in /failsafe (the primary included) vouch for the
	// primary as if every member had confirmed. Only for the test that shows why it is
	// unsafe.
	FailsafeMajority bool
	// SyncMode is synchronous_mode: "" (off), "on" or "quorum", with SyncNodeCount
	// (synchronous_node_count, 0 = 1) and SyncStrict.
	SyncMode      string
	SyncNodeCount int
	SyncStrict    bool
	// PrePromoteFlaky: until every fault is healed, each promotion's pre_promote script
	// fails with probability 1/3 (a fencing target that does not answer).
	PrePromoteFlaky bool
	// PrePromoteFails names nodes whose pre_promote script always fails.
	PrePromoteFails map[string]bool
}

// backend is the shared consensus store all agents talk to, with the simulator's hand on
// reachability and lease expiry.
type backend interface {
	Client(member string, opts dcs.Options) dcs.Store
	SetReachable(member string, ok bool)
	Expire()
}

const observerName = "sim-observer"

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Sim is one deterministic cluster run.
type Sim struct {
	cfg     Config
	rng     *rand.Rand
	now     time.Time
	seq     uint64
	queue   eventQueue
	nodes   []*node
	store   backend
	view    dcs.Store
	sysid   string
	ctx     context.Context
	storeUp bool
	// prePromoteFlaky: Config.PrePromoteFlaky until the faults are healed.
	prePromoteFlaky bool

	// god's view of the leader key, re-read when something may have changed it.
	viewDirty bool
	holder    string
	// holderLease is the model's expectation of when the holder's lease ends.
	holderLease time.Time
	leaseOwner  map[string]time.Time // session -> last keep-alive
	keySession  string               // session that created the current leader key

	transcript []string
	violations []string

	// invariant bookkeeping
	dualSince   time.Time
	dual        bool
	dualWindows int
	dualTotal   time.Duration
	safeAck     uint64 // highest WAL a graceful stop handed to caught-up replicas
	acked       uint64 // highest WAL acknowledged synchronously (sync schedules)
	stats       Stats
	sameInstant int
}

// maxSameInstant bounds events at one simulated instant: more means agents wake each
// other without time passing.
const maxSameInstant = 2000

// maxEvents bounds one schedule (a typical one has a few hundred to a few thousand).
const maxEvents = 200000

// Stats summarises a run.
type Stats struct {
	Events      int
	Cycles      int
	Faults      int
	Promotions  int
	DualWindows int
	DualTotal   time.Duration
	Converged   time.Duration // time from the last heal to a healthy cluster
	// FailsafeHeld counts a primary's cycles without the store on its members'
	// confirmations alone (its lease no longer covering it).
	FailsafeHeld int
	// AckedWAL is how far (bytes of WAL) synchronous acknowledgements advanced;
	// AckChecks how many servers that started accepting writes were checked to hold
	// every acknowledged position.
	AckedWAL  uint64
	AckChecks int
	// PrePromoteRefusals counts promotions stopped by a failing pre_promote script.
	PrePromoteRefusals int
}

// New builds a three-node cluster on an empty store; nothing runs until Start.
func New(cfg Config) *Sim {
	s := &Sim{
		cfg:        cfg,
		rng:        rand.New(rand.NewPCG(cfg.Seed, 0x5eed)),
		now:        epoch,
		ctx:        context.Background(),
		storeUp:    true,
		leaseOwner: map[string]time.Time{},
		sysid:      fmt.Sprintf("7%018d", cfg.Seed%1e18),

		prePromoteFlaky: cfg.PrePromoteFlaky,
	}
	s.store = newBackend(func() time.Time { return s.now })
	s.view = s.store.Client(observerName, s.options(observerName))
	for i := range 3 {
		s.nodes = append(s.nodes, &node{name: fmt.Sprintf("pg-%d", i+1), idx: i})
	}
	for _, n := range s.nodes {
		n.apiURL = "http://" + n.name + ":8008/patroni"
	}
	return s
}

func (s *Sim) options(member string) dcs.Options {
	return dcs.Options{Prefix: "/service/sim/", Member: member, TTL: s.cfg.Timing.TTL, RetryTimeout: s.cfg.Timing.RetryTimeout}
}

func (s *Sim) settings(n *node) ha.Settings {
	return ha.Settings{
		Name: n.name, TTL: s.cfg.Timing.TTL, LoopWait: s.cfg.Timing.LoopWait, RetryTimeout: s.cfg.Timing.RetryTimeout,
		MaximumLagOnFailover: 1 << 20, PrimaryStartTimeout: s.cfg.PrimaryStartTimeout,
		FailoverPriority: 1, CanBootstrap: true, UseSlots: true,
		ReplicateFrom: ha.ReplicateFrom(s.cfg.Tags[n.name]), NoStream: cluster.Truthy(s.cfg.Tags[n.name]["nostream"]),
		FailsafeMode:    s.cfg.FailsafeMode || s.cfg.Profile == Failsafe,
		SynchronousMode: s.cfg.SyncMode != "", SynchronousQuorum: s.cfg.SyncMode == "quorum",
		SynchronousModeStrict: s.cfg.SyncStrict, SynchronousNodeCount: max(1, s.cfg.SyncNodeCount),
	}
}

// at schedules f at the simulated instant t (never in the past).
func (s *Sim) at(t time.Time, f func()) {
	if t.Before(s.now) {
		t = s.now
	}
	s.seq++
	s.queue.push(event{at: t, seq: s.seq, run: f})
}

func (s *Sim) after(d time.Duration, f func()) { s.at(s.now.Add(d), f) }

// between returns a uniformly random duration in [lo, hi].
func (s *Sim) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(s.rng.Int64N(int64(hi-lo)+1))
}

// RunUntil processes events up to and including t, checking the invariants after each.
// It stops early at the first violation.
func (s *Sim) RunUntil(t time.Time) {
	for s.queue.Len() > 0 && len(s.violations) == 0 {
		if s.queue[0].at.After(t) {
			break
		}
		e := s.queue.pop()
		if e.at.Equal(s.now) {
			s.sameInstant++
		} else {
			s.sameInstant = 0
		}
		if s.stats.Events > maxEvents {
			s.violate("runaway schedule: more than %d events", maxEvents)
			return
		}
		if s.sameInstant > maxSameInstant {
			s.violate("livelock: more than %d events at one instant", maxSameInstant)
			return
		}
		s.now = e.at
		e.run()
		s.stats.Events++
		s.afterEvent()
	}
	if len(s.violations) == 0 && s.now.Before(t) {
		s.now = t
		s.afterEvent()
	}
}

// RunFor advances the simulation by d.
func (s *Sim) RunFor(d time.Duration) { s.RunUntil(s.now.Add(d)) }

// Now is the simulated time since the start.
func (s *Sim) Now() time.Duration { return s.now.Sub(epoch) }

func (s *Sim) afterEvent() {
	s.store.Expire()
	s.refreshView()
	s.wakeWatchers()
	s.check()
}

func (s *Sim) logf(n *node, format string, args ...any) {
	who := "sim"
	if n != nil {
		who = n.name
	}
	s.transcript = append(s.transcript, fmt.Sprintf("%9.3fs %-4s %s", s.Now().Seconds(), who, fmt.Sprintf(format, args...)))
}

func (s *Sim) violate(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.logf(nil, "VIOLATION: %s", msg)
	s.violations = append(s.violations, fmt.Sprintf("t=%.3fs: %s", s.Now().Seconds(), msg))
}

// Violations lists the broken invariants (the run stops at the first).
func (s *Sim) Violations() []string { return s.violations }

// Transcript is one line per event.
func (s *Sim) Transcript() string { return strings.Join(s.transcript, "\n") }

// Stats returns the run's counters.
func (s *Sim) Stats() Stats {
	st := s.stats
	st.DualWindows, st.DualTotal = s.dualWindows, s.dualTotal
	return st
}

// node looks a member up by name.
func (s *Sim) node(name string) *node {
	for _, n := range s.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

// Node returns the i-th node's name (0-based).
func (s *Sim) Node(i int) string { return s.nodes[i].name }

// Holder is the leader key's holder as the store shows it now.
func (s *Sim) Holder() string { return s.holder }

// Writable lists the nodes whose PostgreSQL accepts writes now.
func (s *Sim) Writable() []string {
	var w []string
	for _, n := range s.nodes {
		if n.pg.writable() {
			w = append(w, n.name)
		}
	}
	return w
}
