package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/dcs"
	"github.com/warden-ha/warden/internal/ha"
)

// node is one machine: an agent process (nil while it is down) and a PostgreSQL.
type node struct {
	name  string
	idx   int
	pg    postgres
	agent *agent
	store dcs.Store
	// session names the store client's lease; it changes with every agent start.
	session     string
	sessions    int
	partitioned bool
	// isolated: the partition also cuts the node off from its peers' REST APIs.
	isolated  bool
	frozen    bool
	apiURL    string
	lateUntil time.Time
	// stalledUntil: its WAL receiver receives nothing until then (synchronous schedules).
	stalledUntil time.Time
}

// agent is the memory of one agent process; a kill loses all of it.
type agent struct {
	lastRefresh time.Time
	lockLost    bool
	busy        *ha.Busy
	busyGen     uint64
	startFailed bool
	shutdown    bool

	cycleGen  uint64
	pending   bool
	cycleAt   time.Time
	waiting   bool // blocked in a store call that will fail after retry_timeout
	missed    bool // a cycle was due while the process was stopped
	seenLdr   string
	statusWAL uint64
	statusTL  int

	failsafe    simFailsafe
	lastCluster *cluster.Cluster

	syncGUCSetAt   uint64
	syncGUCChanged bool

	// prePromoteFailed and prePromoteReleased are the agent's pre_promote memory.
	prePromoteFailed   bool
	prePromoteReleased time.Time
}

// startAgent starts a fresh agent process with a new store session.
func (s *Sim) startAgent(n *node) {
	n.sessions++
	n.session = fmt.Sprintf("%s#%d", n.name, n.sessions)
	n.store = s.store.Client(n.name, s.options(n.name))
	n.agent = &agent{failsafe: simFailsafe{started: s.now}}
	s.applyReachability(n)
	s.scheduleCycle(n, s.now)
}

func (s *Sim) applyReachability(n *node) {
	s.store.SetReachable(n.name, s.storeUp && !n.partitioned)
}

func (s *Sim) reachable(n *node) bool { return s.storeUp && !n.partitioned }

// scheduleCycle asks for n's next loop at t unless one is already due earlier.
func (s *Sim) scheduleCycle(n *node, t time.Time) {
	a := n.agent
	if a == nil || (a.pending && !a.cycleAt.After(t)) {
		return
	}
	a.cycleGen++
	gen := a.cycleGen
	a.pending, a.cycleAt = true, t
	s.at(t, func() { s.cycle(n, a, gen) })
}

func (s *Sim) cycle(n *node, a *agent, gen uint64) {
	if n.agent != a || a.cycleGen != gen {
		return
	}
	a.pending = false
	if n.frozen {
		a.missed = true
		return
	}
	if a.waiting {
		return
	}
	cl, err := n.store.Load(s.ctx)
	if err != nil {
		// Every store call retries until retry_timeout before the cycle sees the error.
		a.waiting = true
		s.after(s.storeTimeout(n, a), func() { s.retryLoad(n, a) })
		return
	}
	s.decide(n, a, cl)
}

// storeTimeout is the agent's bound on one store call: retry_timeout, and for a lock
// holder no later than the moment it must stop trusting its leadership (at least 50 ms).
func (s *Sim) storeTimeout(n *node, a *agent) time.Duration {
	t := s.cfg.Timing.RetryTimeout
	if a.lastRefresh.IsZero() {
		return t
	}
	st := s.settings(n)
	left := ha.LeaseDeadline(st, 0, ha.Trusted(st, a.lastRefresh, s.failsafeInput(n, a), s.now)).Sub(s.now)
	return max(min(t, left), 50*time.Millisecond)
}

func (s *Sim) retryLoad(n *node, a *agent) {
	if n.agent != a {
		return
	}
	a.waiting = false
	if n.frozen {
		a.missed = true
		return
	}
	cl, err := n.store.Load(s.ctx)
	if err != nil {
		cl = nil
	}
	s.decide(n, a, cl)
}

func (s *Sim) decide(n *node, a *agent, cl *cluster.Cluster) {
	s.stats.Cycles++
	a.failsafe.dcsOK, a.lastCluster = cl != nil, cl
	if cl != nil {
		a.failsafe.members = cl.Failsafe
	} else {
		s.failsafeRound(n, a)
	}
	in := ha.Input{
		Now: s.now, Settings: s.settings(n), Cluster: cl, PG: n.pg.observe(),
		LastRefresh: a.lastRefresh, LockLost: a.lockLost, Busy: a.busy,
		StartFailed: a.startFailed, Shutdown: a.shutdown, Failsafe: s.failsafeInput(n, a),
		PrePromoteReleased: a.prePromoteReleased,
	}
	if cl != nil && cl.LeaderName() != n.name {
		a.prePromoteFailed = false
	}
	in.PrePromoteFailed = a.prePromoteFailed
	if n.pg.writable() {
		in.PG.Replication = s.replicationRows(n)
	}
	a.noteSyncGUC(in.PG)
	in.SyncGUCSetAt = a.syncGUCSetAt
	lock := "?"
	if cl != nil {
		a.seenLdr = cl.LeaderName()
		lock = cl.LeaderName()
		if !cl.Locked() {
			in.Peers = s.peers(n)
		}
	}
	var busy ha.Kind = "-"
	if a.busy != nil {
		busy = a.busy.Action
	}
	observed := n.pg.String()
	out := ha.Decide(in)
	failed, err := s.execute(n, a, out.Plan)
	reason := out.Reason
	if failed == 0 && out.FailReason != "" {
		reason = out.FailReason
	}
	errText := ""
	if err != nil {
		errText = fmt.Sprintf(" [step %d failed: %v]", failed+1, err)
	}
	s.logf(n, "cycle %s lock=%q busy=%s | plan: %s | %s%s", observed, lock, busy, out.Plan, reason, errText)
	if cl == nil && !a.lastRefresh.IsZero() && !s.now.Before(ha.LeaseDeadline(in.Settings, 0, a.lastRefresh)) && n.pg.writable() {
		s.stats.FailsafeHeld++
	}
	if n.agent != a {
		return
	}
	if cl != nil {
		s.publish(n, a, cl)
	}
	if a.shutdown {
		s.logf(n, "agent exited after shutdown")
		n.agent = nil
		return
	}
	next := s.cfg.Timing.LoopWait
	if out.RetryIn > 0 {
		next = out.RetryIn
	}
	if s.now.Before(n.lateUntil) {
		next += s.between(0, s.cfg.Timing.LoopWait)
	}
	s.scheduleCycle(n, s.now.Add(next))
}

// peers is what n's agent fetches from the other members' REST APIs.
func (s *Sim) peers(n *node) []ha.Peer {
	var ps []ha.Peer
	for _, m := range s.nodes {
		if m == n {
			continue
		}
		reach := s.answers(n, m)
		p := ha.Peer{Name: m.name, Reachable: reach, InRecovery: true, Timeline: m.pg.timeline, FailoverPriority: 1}
		if m.pg.running {
			p.InRecovery, p.WAL = m.pg.inRecovery, m.pg.wal
		}
		ps = append(ps, p)
	}
	return ps
}

// publish writes the member key and, for the lock holder, the status and history keys.
func (s *Sim) publish(n *node, a *agent, cl *cluster.Cluster) {
	if err := n.store.TouchMember(s.ctx, s.memberValue(n, a)); err != nil {
		return
	}
	s.keepAlive(n)
	if !a.lastRefresh.Equal(s.now) || !n.pg.writable() {
		return
	}
	if a.statusWAL != n.pg.wal {
		if n.store.SetStatus(s.ctx, cluster.EncodeStatus(cluster.Status{Optime: n.pg.wal})) == nil {
			a.statusWAL = n.pg.wal
		}
	}
	if cl.Timeline() < n.pg.timeline && a.statusTL != n.pg.timeline {
		if n.store.SetHistory(s.ctx, cluster.EncodeHistory(n.pg.history)) == nil {
			a.statusTL = n.pg.timeline
		}
	}
}

func (s *Sim) memberValue(n *node, a *agent) []byte {
	m := cluster.Member{
		Name: n.name, ConnURL: "postgres://" + n.name + ":5432/postgres", APIURL: n.apiURL,
		Version: cluster.Version, Timeline: n.pg.timeline, State: "stopped", Role: cluster.RoleReplica,
		Tags: s.cfg.Tags[n.name],
	}
	switch {
	case a.busy != nil && a.busy.Action == ha.KindBootstrap:
		m.State, m.Role = "initializing new cluster", cluster.RoleUninitialized
	case a.busy != nil && a.busy.Action == ha.KindClone:
		m.State, m.Role = "creating replica", cluster.RoleUninitialized
	case !n.pg.initialized:
		m.Role = cluster.RoleUninitialized
	case n.pg.running && !n.pg.ready:
		m.State = "starting"
	case n.pg.running:
		m.State = "running"
		wal := n.pg.wal
		m.XLogLocation = &wal
		if !n.pg.inRecovery {
			m.Role = cluster.RolePrimary
		} else if s.streaming(n) {
			m.ReplicationState = "streaming"
		} else {
			m.ReplicationState = "in archive recovery"
		}
	}
	return cluster.EncodeMember(m)
}

// keepAlive records that n's lease was renewed now (the model's own expectation of when
// the leader key must expire, checked against the store).
func (s *Sim) keepAlive(n *node) {
	s.leaseOwner[n.session] = s.now
	if s.holder != "" && n.session == s.keySession {
		s.holderLease = s.now.Add(s.cfg.Timing.TTL)
	}
}

var errLostRace = errors.New("leader key held by another member")

// execute runs the plan in order and stops at the first failure; it returns the index
// of the failed step.
func (s *Sim) execute(n *node, a *agent, plan ha.Plan) (int, error) {
	for i, act := range plan {
		if err := s.do(n, a, act); err != nil {
			return i, err
		}
		if n.agent != a {
			break
		}
	}
	return -1, nil
}

func (s *Sim) do(n *node, a *agent, act ha.Action) error {
	switch act.Kind {
	case ha.KindTakeInitialize:
		ok, err := n.store.Initialize(s.ctx, true, "")
		if err == nil && !ok {
			err = errors.New("initialize key exists")
		}
		return err
	case ha.KindBootstrap:
		s.startLong(n, a, act, s.between(2*time.Second, 4*time.Second), func() error { return s.bootstrapped(n, a) })
	case ha.KindWriteInitialize:
		ok, err := n.store.Initialize(s.ctx, act.IfAbsent, act.SysID)
		if err == nil && !ok {
			err = errors.New("initialize key exists")
		}
		return err
	case ha.KindWriteConfig:
		_, err := n.store.SetConfig(s.ctx, s.configValue(), 0)
		return err
	case ha.KindTakeLeader:
		return s.acquire(n, a)
	case ha.KindRefreshLeader:
		return s.refresh(n, a)
	case ha.KindReleaseLeader:
		if err := n.store.ReleaseLeader(s.ctx); err != nil {
			return err
		}
		a.lastRefresh = time.Time{}
		s.viewDirty = true
		if act.Backoff {
			a.prePromoteFailed, a.prePromoteReleased = false, s.now
		}
	case ha.KindPromote:
		s.refreshView()
		if s.holder != n.name {
			s.violate("%s starts a promotion while the store shows the leader key held by %q", n.name, s.holder)
		}
		s.startLong(n, a, act, s.between(100*time.Millisecond, 500*time.Millisecond), func() error { return s.promoted(n, a) })
	case ha.KindStop:
		s.stopPostgres(n, a, act.Mode)
	case ha.KindStartPrimary:
		n.pg.startPrimary()
		s.startLong(n, a, act, s.between(500*time.Millisecond, 3*time.Second), func() error { return s.started(n) })
	case ha.KindFollow:
		if act.Member == n.name {
			s.violate("%s plans to follow itself", n.name)
		}
		if n.pg.running {
			s.stopPostgres(n, a, ha.StopFast)
		}
		n.pg.startReplica(act.Member)
		s.startLong(n, a, act, s.between(200*time.Millisecond, 2*time.Second), func() error { return s.started(n) })
	case ha.KindClone:
		s.startLong(n, a, act, s.between(time.Second, 3*time.Second), func() error { return s.cloned(n, act.Member) })
	case ha.KindSetSyncStandbys, ha.KindWriteSync, ha.KindDeleteSync:
		return s.doSync(n, a, act)
	case ha.KindEnsureSlots, ha.KindCopySlots:
	case ha.KindCancelBusy:
		a.busy = nil
		a.busyGen++
	case ha.KindExit:
		s.logf(n, "agent exits: %s", act.Message)
		n.agent = nil
	default:
		s.violate("%s: action outside the closed set: %s", n.name, act)
	}
	return nil
}

func (s *Sim) configValue() []byte {
	t := s.cfg.Timing
	return cluster.EncodeConfig(map[string]any{
		"ttl": int(t.TTL.Seconds()), "loop_wait": int(t.LoopWait.Seconds()), "retry_timeout": int(t.RetryTimeout.Seconds()),
	})
}

func (s *Sim) acquire(n *node, a *agent) error {
	ok, err := n.store.AcquireLeader(s.ctx)
	if err != nil {
		return err
	}
	if !ok {
		return errLostRace
	}
	a.lastRefresh, a.lockLost = s.now, false
	s.keySession = n.session
	s.keepAlive(n)
	s.viewDirty = true
	s.writeFailsafe(n, a)
	return nil
}

func (s *Sim) refresh(n *node, a *agent) error {
	if err := n.store.RefreshLeader(s.ctx); err != nil {
		if errors.Is(err, dcs.ErrLockLost) {
			a.lockLost = true
		}
		return err
	}
	a.lastRefresh, a.lockLost = s.now, false
	s.writeFailsafe(n, a)
	// A refresh re-attaches a key still holding this member's name to the current
	// session's lease (a restarted agent adopts the key its previous process left).
	if s.keySession != n.session {
		s.keySession = n.session
		s.viewDirty = true
	}
	s.keepAlive(n)
	return nil
}

// stopPostgres stops n's server. A fast stop of a primary first sends all WAL to the
// standbys streaming from it (the shutdown checkpoint reaches connected walreceivers).
func (s *Sim) stopPostgres(n *node, a *agent, mode ha.StopMode) {
	if n.pg.writable() {
		if a != nil && a.shutdown && s.caughtUp(n) && n.pg.wal > s.safeAck {
			s.safeAck = n.pg.wal
		}
		if mode == ha.StopFast {
			for _, m := range s.streamingFrom(n) {
				m.pg.wal = max(m.pg.wal, n.pg.wal)
			}
		}
	}
	n.pg.stop(mode == ha.StopFast)
}

// streaming: n is a standby receiving WAL from a running upstream of its cluster.
func (s *Sim) streaming(n *node) bool {
	p := &n.pg
	if !p.running || !p.ready || !p.inRecovery || p.upstream == "" {
		return false
	}
	up := s.node(p.upstream)
	return up != nil && up.pg.running && up.pg.ready && up.pg.sysid == p.sysid
}

// streamingFrom lists the standbys replicating from n right now.
func (s *Sim) streamingFrom(n *node) []*node {
	var out []*node
	for _, m := range s.nodes {
		if m != n && m.pg.running && m.pg.ready && m.pg.inRecovery && m.pg.upstream == n.name && m.pg.timeline == n.pg.timeline {
			out = append(out, m)
		}
	}
	return out
}

// caughtUp: every other node with data streams from n, so a clean stop loses nothing.
func (s *Sim) caughtUp(n *node) bool {
	streaming := s.streamingFrom(n)
	for _, m := range s.nodes {
		if m == n || !m.pg.initialized {
			continue
		}
		found := false
		for _, r := range streaming {
			found = found || r == m
		}
		if !found {
			return false
		}
	}
	return len(streaming) > 0
}

// startLong hands a long action to the agent's background worker; done runs when it
// completes unless it was cancelled or the agent died meanwhile.
func (s *Sim) startLong(n *node, a *agent, act ha.Action, d time.Duration, done func() error) {
	a.busyGen++
	gen := a.busyGen
	a.busy = &ha.Busy{Action: act.Kind, Since: s.now}
	var finish func()
	finish = func() {
		if n.agent != a || a.busyGen != gen {
			return
		}
		if n.frozen {
			s.after(100*time.Millisecond, finish)
			return
		}
		err := done()
		a.busy = nil
		if act.Kind == ha.KindFollow || act.Kind == ha.KindStartPrimary {
			a.startFailed = err != nil
		}
		if err != nil {
			s.logf(n, "done %s err=%v; %s", act, err, n.pg.String())
		} else {
			s.logf(n, "done %s ok; %s", act, n.pg.String())
		}
		// The worker wakes the loop when it finishes.
		s.scheduleCycle(n, s.now)
	}
	s.after(d, finish)
}

func (s *Sim) startFails() bool {
	return (s.cfg.Profile == Mixed || s.cfg.Profile == Frozen) && s.rng.IntN(20) == 0
}

func (s *Sim) started(n *node) error {
	if !n.pg.running {
		return errors.New("postmaster is not running")
	}
	if s.startFails() {
		n.pg.stop(false)
		return errors.New("postgres exited during start-up")
	}
	n.pg.ready = true
	s.becameWritable(n)
	return nil
}

func (s *Sim) promoted(n *node, a *agent) error {
	if s.cfg.PrePromoteFails[n.name] || (s.prePromoteFlaky && s.rng.IntN(3) == 0) {
		s.stats.PrePromoteRefusals++
		a.prePromoteFailed = true
		return errors.New("pre_promote script exited with 1")
	}
	if !n.pg.running || !n.pg.ready || !n.pg.inRecovery {
		return fmt.Errorf("cannot promote: %s", n.pg.String())
	}
	n.pg.promote("promoted by " + n.name)
	s.stats.Promotions++
	s.becameWritable(n)
	return nil
}

func (s *Sim) cloned(n *node, from string) error {
	src := s.node(from)
	if src == nil || !src.pg.initialized || !src.pg.running || !src.pg.ready {
		return fmt.Errorf("pg_basebackup from %q: source not available", from)
	}
	n.pg.copyFrom(&src.pg)
	return nil
}

// bootstrapped: initdb finished and the new primary runs; the agent records the system
// identifier and the configuration and takes the leader key, as post_bootstrap does.
func (s *Sim) bootstrapped(n *node, a *agent) error {
	n.pg = postgres{initialized: true, sysid: s.sysid, running: true, ready: true, timeline: 1, wal: 1, wasPrimary: true}
	s.becameWritable(n)
	if _, err := n.store.Initialize(s.ctx, false, s.sysid); err != nil {
		return err
	}
	if _, err := n.store.SetConfig(s.ctx, s.configValue(), 0); err != nil {
		return err
	}
	return s.acquire(n, a)
}

// becameWritable checks the no-lost-write invariant for graceful-only schedules.
func (s *Sim) becameWritable(n *node) {
	s.checkAcknowledged(n)
	if n.pg.writable() && s.cfg.Profile == GracefulOnly && n.pg.wal < s.safeAck {
		s.violate("%s accepts writes at WAL %d, below %d acknowledged before a graceful stop with caught-up replicas", n.name, n.pg.wal, s.safeAck)
	}
}
