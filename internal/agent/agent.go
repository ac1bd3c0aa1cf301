// Package agent is Warden's HA shell: one goroutine owns the node's HA state and runs
// observe -> ha.Decide -> execute -> publish, logging one line per cycle. Long actions
// run in a single background worker so the loop keeps refreshing the lock meanwhile.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warden-ha/warden/internal/api"
	"github.com/warden-ha/warden/internal/api/client"
	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/config"
	"github.com/warden-ha/warden/internal/dcs"
	"github.com/warden-ha/warden/internal/ha"
	"github.com/warden-ha/warden/internal/watchdog"
)

// Options are the values the agent needs from the configuration.
type Options struct {
	Name    string
	Scope   string
	ConnURL string
	APIURL  string
	Tags    map[string]any
	// BootstrapDCS is bootstrap.dcs as written: the cluster's first dynamic configuration.
	BootstrapDCS map[string]any
	CanBootstrap bool
	// Dynamic is the dynamic configuration to use until the DCS has one.
	Dynamic config.Dynamic
	// CachedDCS is the configuration read from patroni.dynamic.json at start-up (nil
	// without one): it stands in for bootstrap.dcs while the DCS has no config key.
	CachedDCS map[string]any
	// DataDir is where patroni.dynamic.json is kept; "" keeps no copy.
	DataDir string
	// UsePgRewind is the local postgresql.use_pg_rewind override, nil when unset.
	UsePgRewind *bool
	// Reload re-reads the configuration file and applies it (POST /reload, SIGHUP).
	Reload func(ctx context.Context) error
	// Metrics receives the decision counters; nil keeps them unexported.
	Metrics prometheus.Registerer
	// Callbacks runs postgresql.callbacks; nil when none are configured.
	Callbacks Callbacks
	// Fence, when set, is armed while this node is a primary holding the lease and
	// stops PostgreSQL if the loop stops refreshing it (a frozen or dead agent).
	Fence Fence
	// Watchdog (unless its mode is off) is activated by the primary, fed after every
	// lease refresh and closed when this node stops being primary.
	Watchdog *watchdog.Watchdog
	// CloneWithoutLeader: a replica creation method marked no_leader is configured.
	CloneWithoutLeader bool
	// Dialect is the Patroni major version whose words the node speaks
	// (warden.patroni_version); 0 follows the cluster's member keys.
	Dialect cluster.Dialect
	// Settled, when set, runs after the first cycle and after the first cycle that
	// follows a long action, once no long action runs: memory used only by start-up or
	// by the action can be returned then.
	Settled func()
	// DeduplicateHeartbeatLogs is log.deduplicate_heartbeat_logs (Patroni 4.1): a
	// heartbeat line identical to the previous one is not logged.
	DeduplicateHeartbeatLogs bool
}

// Fence is the fencing process as the agent drives it.
type Fence interface {
	Arm(d time.Duration)
	Disarm()
}

// PeerClient fetches another member's status from its REST API.
type PeerClient interface {
	Status(ctx context.Context, apiURL string) (client.PeerStatus, error)
	// PostFailsafe sends POST /failsafe and returns the status code and answer text.
	PostFailsafe(ctx context.Context, apiURL string, body []byte) (int, string, error)
}

// Agent runs the HA loop for one node.
type Agent struct {
	opts  Options
	store dcs.Store
	node  Node
	peers PeerClient
	log   *slog.Logger
	now   func() time.Time

	status  atomic.Pointer[api.Status]
	dynamic atomic.Pointer[config.Dynamic]
	// dialect is the cluster.Dialect spoken (read by callbacks on other goroutines).
	dialect atomic.Int32

	// Loop-owned state.
	unsettled bool
	// untilStreaming counts the quick cycles left to publish a new replica's streaming
	// state after it was started.
	untilStreaming int
	lastRefresh    time.Time
	lockLost       bool
	startFailed    bool
	// demoted: the last long action was a switchover's demotion and PostgreSQL has not
	// run since (ha.Input.Demoted).
	demoted bool
	// cacheSaved is the configuration last written to patroni.dynamic.json.
	cacheSaved  map[string]any
	lastCluster *cluster.Cluster
	dcsLastSeen time.Time
	upstream    string
	lastMember  []byte
	// lastMemberWAL is the WAL position in lastMember.
	lastMemberWAL *uint64
	lastStatus    []byte
	// slotPositions are the positions of the slots this node (as primary) kept last.
	slotPositions map[string]uint64
	// retainSlots is the primary's retain_slots (member_slots_ttl) for /status.
	retainSlots []string
	// slotCopyFailed is when the last copy of logical slots failed.
	slotCopyFailed time.Time
	lastReason     string
	heartbeats     heartbeatFilter
	config         configState
	// lastWAL is this cycle's WAL position; syncGUCSetAt the primary's position at the
	// first observation after synchronous_standby_names changed (syncGUCChanged) or
	// after it became primary (see ha.Input.SyncGUCSetAt).
	lastWAL        uint64
	syncGUCSetAt   uint64
	syncGUCChanged bool
	failsafe       failsafeState
	// prePromoteFailed: the last promotion was refused by the pre_promote script and
	// the key not released yet; prePromoteReleased is when it was released.
	prePromoteFailed   bool
	prePromoteReleased time.Time
	// leaseTTL is the TTL of the lease the last successful acquire or refresh left the
	// leader key on (ha.Input.LeaseTTL).
	leaseTTL time.Duration
	// noAnswerSince: see noteAnswer.
	noAnswerSince time.Time

	// requests carries operator requests to the loop; pending is the one this cycle
	// decides on; awaiting answers when the long action carrying it finishes.
	requests chan pendingRequest
	pending  *pendingRequest
	awaiting chan RequestResult
	sched    scheduler
	metrics  *decisionMetrics

	mu     sync.Mutex
	busy   *ha.Busy
	cancel context.CancelFunc
	done   chan workerResult
	fatal  error
}

type workerResult struct {
	action ha.Action
	err    error
}

// New builds an agent; Run starts it.
func New(opts Options, store dcs.Store, node Node, peers PeerClient, log *slog.Logger) *Agent {
	a := &Agent{opts: opts, store: store, peers: peers, log: log, now: time.Now,
		done: make(chan workerResult, 1), requests: make(chan pendingRequest), metrics: newDecisionMetrics(opts.Metrics)}
	a.dialect.Store(int32(opts.Dialect.Major()))
	a.node = withCallbacks(node, opts.Callbacks, a.speaks)
	a.failsafe.started = a.now()
	a.heartbeats.on = opts.DeduplicateHeartbeatLogs
	d := opts.Dynamic
	a.dynamic.Store(&d)
	a.status.Store(&api.Status{Name: opts.Name, Scope: opts.Scope, State: "stopped", Role: cluster.RoleUninitialized, Tags: cluster.PublishedTags(opts.Tags), TTL: d.TTL, Dialect: a.speaks()})
	return a
}

// Status is the last published status (api.Source).
func (a *Agent) Status() *api.Status { return a.status.Load() }

// Cluster reads the cluster from the DCS now (api.Source).
func (a *Agent) Cluster(ctx context.Context) (*cluster.Cluster, error) { return a.store.Load(ctx) }

// Run runs the HA loop until ctx is cancelled, then shuts down gracefully: PostgreSQL is
// stopped and, if this node holds it, the leader key is deleted.
func (a *Agent) Run(ctx context.Context) error {
	a.unsettled = true
	for {
		if a.fatal != nil {
			var r *refusal
			if !errors.As(a.fatal, &r) {
				a.shutdown()
			}
			return a.fatal
		}
		wait := a.cycle(ctx)
		if a.fatal != nil {
			continue
		}
		a.settle()
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			a.shutdown()
			return nil
		case <-timer.C:
		case <-a.store.Changes():
		case <-a.node.Exits():
			a.log.Info("postmaster exited")
		case r := <-a.done:
			a.finish(r)
		case pr := <-a.requests:
			a.pending = &pr
		}
		timer.Stop()
	}
}

func (a *Agent) settings() ha.Settings {
	d := a.dynamic.Load()
	s := ha.Settings{
		Name: a.opts.Name, TTL: d.TTL, LoopWait: d.LoopWait, RetryTimeout: d.RetryTimeout,
		PrimaryStartTimeout: d.PrimaryStartTimeout, PrimaryHangTimeout: d.PrimaryHangTimeout, CheckTimeline: d.CheckTimeline,
		NoFailover: cluster.TagsNoFailover(a.opts.Tags), FailoverPriority: cluster.TagsFailoverPriority(a.opts.Tags),
		CanBootstrap: a.opts.CanBootstrap, UseSlots: d.UseSlots, Pause: d.Pause,
		ReplicateFrom: ha.ReplicateFrom(a.opts.Tags), NoStream: cluster.Truthy(a.opts.Tags["nostream"]),
		SynchronousMode: d.SynchronousMode, SynchronousQuorum: d.SynchronousQuorum, SynchronousModeStrict: d.SynchronousModeStrict,
		MaximumLagOnSyncnode: d.MaximumLagOnSyncnode,
		SynchronousNodeCount: d.SynchronousNodeCount, Watchdog: a.opts.Watchdog != nil && a.opts.Watchdog.Enabled(),
		PermanentSlots: permanentSlots(d.PermanentSlots, d.Standby != nil), IgnoreSlots: ignoreSlots(d.IgnoreSlots), MemberSlotsTTL: d.MemberSlotsTTL,
		FailsafeMode: d.FailsafeMode, CloneWithoutLeader: a.opts.CloneWithoutLeader,
	}
	if d.Standby != nil {
		s.StandbyCluster = d.Standby.Remote()
	}
	if d.MaximumLagOnFailover > 0 {
		s.MaximumLagOnFailover = uint64(d.MaximumLagOnFailover)
	}
	return s
}

// noteSyncGUC keeps syncGUCSetAt at or above every commit acknowledged under an earlier
// synchronous_standby_names: an observation made a loop after the change (walsenders
// have reloaded by then), or the first one as a primary.
func (a *Agent) noteSyncGUC(pg ha.Postgres) {
	switch {
	case !pg.Ready || pg.InRecovery:
		a.syncGUCSetAt = 0
	case a.syncGUCSetAt == 0 || a.syncGUCChanged:
		a.syncGUCSetAt, a.syncGUCChanged = pg.WAL, false
	}
}

// noteAnswer keeps when the running postmaster last started leaving the health query
// unanswered (ha.Postgres.NoAnswerSince): the send time of the first query of the run.
func (a *Agent) noteAnswer(obs *Observation, sent time.Time) {
	switch {
	case !obs.Running || !obs.NoAnswer:
		a.noAnswerSince = time.Time{}
	case a.noAnswerSince.IsZero():
		a.noAnswerSince = sent
		a.log.Warn("PostgreSQL gave no answer to the health query", "timed_out_after", a.now().Sub(sent).Round(time.Millisecond))
	}
	obs.NoAnswerSince = a.noAnswerSince
}

// cycle runs one observe -> decide -> execute -> publish round and returns how long to
// sleep before the next one.
func (a *Agent) cycle(ctx context.Context) time.Duration {
	s := a.settings()
	cl := a.loadCluster(ctx, s)
	if cl != nil {
		// Decide on the configuration just read: the first cycle after a start would
		// otherwise run on bootstrap.dcs (synchronous mode off, other timings).
		s = a.settings()
	}
	observed := a.now()
	obs := a.node.Observe(ctx, members(cl))
	a.noteAnswer(&obs, observed)
	if obs.Upstream == "" {
		a.mu.Lock()
		obs.Upstream = a.upstream
		a.mu.Unlock()
	}
	if cl == nil {
		a.failsafeRound(ctx, obs, s)
	}
	a.noteSyncGUC(obs.Postgres)
	if cl != nil && cl.LeaderName() != s.Name {
		a.prePromoteFailed = false
	}
	in := ha.Input{
		Now: a.now(), Settings: s, Cluster: cl, PG: obs.Postgres,
		LastRefresh: a.lastRefresh, LeaseTTL: a.leaseTTL, LockLost: a.lockLost, StartFailed: a.startFailed, Demoted: a.demoted,
		Busy: a.currentBusy(), SyncGUCSetAt: a.syncGUCSetAt, SlotCopyFailed: a.slotCopyFailed, Failsafe: a.failsafe.input(),
		PrePromoteFailed: a.prePromoteFailed, PrePromoteReleased: a.prePromoteReleased,
	}
	if wd := a.opts.Watchdog; wd != nil {
		in.WatchdogActive, in.WatchdogUnusable = wd.Activated(), !wd.Healthy(s.TTL, s.LoopWait)
	}
	a.lastWAL = obs.WAL
	a.dueRestart()
	if a.pending != nil {
		req := a.pending.req
		in.Request = &req
	}
	if a.needPeers(cl, obs, s) && in.Busy == nil {
		in.Peers = a.fetchPeers(ctx, cl, s)
	}
	out := ha.Decide(in)
	failed, err := a.execute(ctx, out.Plan, cl, s)
	a.logDecision(cl, out, failed, err)
	a.metrics.record(out.Plan, failed, err)
	a.answerRequest(out, failed, err)
	a.applyConfig(ctx, cl, obs)
	a.saveDynamicCache(cl, obs)
	a.publish(ctx, cl, obs, s)
	a.feedFence(obs, s)
	a.settleWatchdog(obs, s)
	wait := s.LoopWait
	if out.RetryIn > 0 {
		wait = out.RetryIn
	} else if err != nil {
		wait = min(s.LoopWait, time.Second)
	}
	return a.untilStreamingWait(obs, wait)
}

// streamingPoll is how often a replica just started is observed until it streams, at
// most streamingPolls times, instead of waiting loop_wait to publish its state.
const (
	streamingPoll  = 500 * time.Millisecond
	streamingPolls = 20
)

func (a *Agent) untilStreamingWait(obs Observation, wait time.Duration) time.Duration {
	if a.untilStreaming == 0 || !obs.Ready || !obs.InRecovery || obs.Streaming || a.currentBusy() != nil {
		a.untilStreaming = 0
		return wait
	}
	a.untilStreaming--
	return min(wait, streamingPoll)
}

func (a *Agent) loadCluster(ctx context.Context, s ha.Settings) *cluster.Cluster {
	lctx, cancel := a.dcsCtx(ctx, s)
	defer cancel()
	cl, err := a.store.Load(lctx)
	a.failsafe.noteDCS(err == nil)
	if err != nil {
		a.log.Error("Error communicating with DCS", "err", err)
		return nil
	}
	a.failsafe.members = cl.Failsafe
	a.dcsLastSeen = a.now()
	a.lastCluster = cl
	a.applyDynamic(cl)
	a.followDialect(cl)
	return cl
}

// applyDynamic adopts the cluster's dynamic configuration when it changed.
func (a *Agent) applyDynamic(cl *cluster.Cluster) {
	raw := cl.Config
	if raw == nil {
		raw = a.opts.CachedDCS
	}
	if raw == nil {
		raw = a.opts.BootstrapDCS
	}
	d, warnings := config.ParseDynamic(raw)
	for _, w := range warnings {
		a.log.Warn("dynamic configuration", "warning", w.String())
	}
	old := a.dynamic.Load()
	if d.TimingNote != old.TimingNote && d.TimingNote != "" {
		a.log.Warn(d.TimingsNote())
	}
	if old.TTL != d.TTL {
		a.store.SetTTL(d.TTL)
	}
	if old.TTL != d.TTL || old.LoopWait != d.LoopWait || old.RetryTimeout != d.RetryTimeout {
		a.log.Info("applied dynamic configuration", "ttl", d.TTL, "loop_wait", d.LoopWait, "retry_timeout", d.RetryTimeout)
	}
	a.dynamic.Store(&d)
}

// needPeers: the other members' positions matter in a leader race, and to the leader
// when a switchover or failover is requested.
func (a *Agent) needPeers(cl *cluster.Cluster, obs Observation, s ha.Settings) bool {
	if cl == nil || !obs.Ready {
		return false
	}
	if !cl.Locked() {
		return obs.InRecovery
	}
	return cl.LeaderName() == s.Name && !cl.Failover.Empty()
}

func members(cl *cluster.Cluster) []cluster.Member {
	if cl == nil {
		return nil
	}
	return cl.Members
}

// fetchPeers asks every other member for its WAL position, in parallel, bounded.
func (a *Agent) fetchPeers(ctx context.Context, cl *cluster.Cluster, s ha.Settings) []ha.Peer {
	ctx, cancel := context.WithTimeout(ctx, min(2*time.Second, s.RetryTimeout))
	defer cancel()
	var wg sync.WaitGroup
	peers := make([]ha.Peer, 0, len(cl.Members))
	var mu sync.Mutex
	for _, m := range a.raceMembers(cl, s) {
		if m.Name == s.Name || m.APIURL == "" {
			continue
		}
		wg.Add(1)
		go func(m cluster.Member) {
			defer wg.Done()
			p := ha.Peer{Name: m.Name}
			st, err := a.peers.Status(ctx, m.APIURL)
			if err == nil && st.HasWAL {
				p = ha.Peer{Name: m.Name, Reachable: true, InRecovery: st.InRecovery, WAL: st.WAL,
					Timeline: st.Timeline, NoFailover: st.NoFailover, FailoverPriority: st.FailoverPriority,
					WatchdogFailed: st.WatchdogFailed}
			}
			mu.Lock()
			peers = append(peers, p)
			mu.Unlock()
		}(m)
	}
	wg.Wait()
	return peers
}

// raceMembers are the members a leader race compares against: the cluster's, and with
// failsafe_mode those listed in /failsafe whose member key is gone (Patroni 3.0.2).
func (a *Agent) raceMembers(cl *cluster.Cluster, s ha.Settings) []cluster.Member {
	ms := cl.Members
	if !s.FailsafeMode {
		return ms
	}
	for name, url := range a.failsafe.members {
		if _, ok := cl.Member(name); !ok {
			ms = append(slices.Clip(ms), cluster.Member{Name: name, APIURL: url})
		}
	}
	return ms
}

func (a *Agent) logDecision(cl *cluster.Cluster, out ha.Output, failed int, err error) {
	reason := out.Reason
	if err != nil && failed == 0 && out.FailReason != "" {
		reason = out.FailReason
	}
	attrs := []any{}
	if len(out.Plan) > 0 {
		attrs = append(attrs, "plan", out.Plan.String())
	}
	if cl != nil {
		attrs = append(attrs, "leader", cl.LeaderName())
	}
	if err != nil {
		attrs = append(attrs, "failed", out.Plan[failed].String(), "err", err)
	}
	if err != nil || !a.heartbeats.skip(reason, attrs) {
		a.log.Info(reason, attrs...)
	}
	a.lastReason = reason
}

func (a *Agent) currentBusy() *ha.Busy {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.busy == nil {
		return nil
	}
	b := *a.busy
	return &b
}

// failedActionBackoff is the pause after a failed long action.
const failedActionBackoff = 500 * time.Millisecond

// errBusy is returned when a long action is requested while another runs.
var errBusy = errors.New("another long action is in progress")

func (a *Agent) startWorker(ctx context.Context, act ha.Action, run func(context.Context) error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.busy != nil {
		return fmt.Errorf("%s: %w (%s)", act, errBusy, a.busy.Action)
	}
	wctx, cancel := context.WithCancel(ctx)
	a.busy = &ha.Busy{Action: act.Kind, Since: a.now()}
	a.cancel = cancel
	go func() {
		err := run(wctx)
		if err != nil {
			// A failed action is retried by the next decision; the pause keeps a
			// quickly failing one (e.g. following a leader still promoting) from spinning.
			backoff := time.NewTimer(failedActionBackoff)
			select {
			case <-wctx.Done():
			case <-backoff.C:
			}
			backoff.Stop()
		}
		cancel()
		a.done <- workerResult{action: act, err: err}
	}()
	return nil
}

// settle calls Options.Settled once the loop is idle after start-up or a long action.
func (a *Agent) settle() {
	if !a.unsettled || a.opts.Settled == nil || a.currentBusy() != nil {
		return
	}
	a.unsettled = false
	a.opts.Settled()
}

// finish records a finished long action; called from the loop goroutine.
func (a *Agent) finish(r workerResult) {
	a.mu.Lock()
	a.busy, a.cancel = nil, nil
	a.mu.Unlock()
	a.unsettled = true
	if r.action.Kind == ha.KindStartPrimary {
		a.startFailed = r.err != nil
	}
	a.demoted = r.action.Kind == ha.KindDemote && r.err == nil
	if r.action.Kind == ha.KindPromote {
		a.prePromoteFailed = errors.Is(r.err, ErrPrePromote)
	}
	switch r.action.Kind {
	case ha.KindFollow, ha.KindClone, ha.KindReinitialize:
		if r.err == nil {
			a.untilStreaming = streamingPolls
		}
	}
	if r.action.Kind == ha.KindCopySlots {
		a.slotCopyFailed = time.Time{}
		if r.err != nil {
			a.slotCopyFailed = a.now()
		}
	}
	if r.action.Kind == ha.KindRestart && a.awaiting != nil {
		if r.err != nil {
			a.awaiting <- RequestResult{Code: http.StatusServiceUnavailable, Message: "restart failed"}
		} else {
			a.awaiting <- RequestResult{Code: http.StatusOK, Message: "restarted successfully"}
		}
		a.awaiting = nil
	}
	if r.err != nil {
		a.log.Error(fmt.Sprintf("%s failed", r.action), "err", r.err)
		var fatal *fatalError
		if errors.As(r.err, &fatal) {
			a.fatal = fatal
		}
		return
	}
	a.log.Info(fmt.Sprintf("%s finished", r.action))
}

func (a *Agent) cancelBusy() {
	a.mu.Lock()
	cancel := a.cancel
	a.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	a.finish(<-a.done)
}

// shutdown runs the final decision with Shutdown set, on a fresh bounded context.
func (a *Agent) shutdown() {
	s := a.settings()
	ctx, cancel := context.WithTimeout(context.Background(), 2*s.RetryTimeout+time.Minute)
	defer cancel()
	a.cancelBusy()
	cl := a.lastCluster
	lctx, lcancel := context.WithTimeout(ctx, s.RetryTimeout)
	if fresh, err := a.store.Load(lctx); err == nil {
		cl = fresh
	}
	lcancel()
	obs := a.node.Observe(ctx, members(cl))
	out := ha.Decide(ha.Input{Now: a.now(), Settings: s, Cluster: cl, PG: obs.Postgres, LastRefresh: a.lastRefresh, LeaseTTL: a.leaseTTL, Shutdown: true})
	failed, err := a.execute(ctx, out.Plan, cl, s)
	a.logDecision(cl, out, failed, err)
	if err != nil && out.Plan.Has(ha.KindReleaseLeader) {
		a.log.Error("PostgreSQL shutdown failed, leader key not removed.")
	}
	obs = a.node.Observe(ctx, members(cl))
	if wd := a.opts.Watchdog; wd != nil && wd.Running() {
		if obs.Running && !s.Pause {
			a.log.Error("PostgreSQL is still running: leaving the watchdog running")
		} else {
			wd.Disable()
		}
	}
	a.touchMember(ctx, cl, obs, s)
}

// Dynamic is the dynamic configuration in force.
func (a *Agent) Dynamic() config.Dynamic { return *a.dynamic.Load() }

// feedFence arms the fence while this node is a primary on a live lease and not paused,
// and disarms it otherwise.
func (a *Agent) feedFence(obs Observation, s ha.Settings) {
	if a.opts.Fence == nil {
		return
	}
	if a.lastRefresh.IsZero() || s.Pause || !(obs.Running && !obs.InRecovery) {
		a.opts.Fence.Disarm()
		return
	}
	a.opts.Fence.Arm(ha.FenceDeadline(s, a.leaseTTL, a.trusted(s)).Sub(a.now()))
}

// settleWatchdog closes the watchdog in maintenance mode, once PostgreSQL is down, and
// on a replica that does not hold the lock (a lock holder in recovery is promoting). A
// primary that lost the lock keeps it running until PostgreSQL is down: if the agent
// freezes meanwhile, the device fences.
func (a *Agent) settleWatchdog(obs Observation, s ha.Settings) {
	wd := a.opts.Watchdog
	if wd == nil || !wd.Activated() {
		return
	}
	if s.Pause || !obs.Running || (obs.Ready && obs.InRecovery && a.lastRefresh.IsZero()) {
		wd.Disable()
	}
}
