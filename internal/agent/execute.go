package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/dcs"
	"github.com/warden-ha/warden/internal/ha"
)

// execute runs the plan in order and stops at the first failure, returning its index.
// A long action must be the plan's last step: it is handed to the worker.
func (a *Agent) execute(ctx context.Context, plan ha.Plan, cl *cluster.Cluster, s ha.Settings) (int, error) {
	for i, act := range plan {
		if act.Long() && i != len(plan)-1 {
			return i, fmt.Errorf("%s: a long action must end the plan", act)
		}
		if err := a.step(ctx, act, cl, s); err != nil {
			return i, err
		}
	}
	return 0, nil
}

func (a *Agent) dcsCtx(ctx context.Context, s ha.Settings) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.dcsTimeout(s))
}

// minDCSTimeout keeps a last DCS call possible when the lease deadline is at hand.
const minDCSTimeout = 50 * time.Millisecond

// dcsTimeout bounds one DCS call: retry_timeout, and while this node holds the lock no
// later than the moment it must stop trusting its lease (lastRefresh + ttl -
// retry_timeout), so a hanging store cannot keep the loop from demoting in time.
func (a *Agent) dcsTimeout(s ha.Settings) time.Duration {
	t := s.RetryTimeout
	if a.lastRefresh.IsZero() {
		return t
	}
	left := ha.LeaseDeadline(s, a.trusted(s)).Sub(a.now())
	return max(min(t, left), minDCSTimeout)
}

func (a *Agent) step(ctx context.Context, act ha.Action, cl *cluster.Cluster, s ha.Settings) error {
	switch act.Kind {
	case ha.KindTakeInitialize:
		dctx, cancel := a.dcsCtx(ctx, s)
		defer cancel()
		ok, err := a.store.Initialize(dctx, true, "")
		if err == nil && !ok {
			err = errors.New("another member is bootstrapping the cluster")
		}
		return err
	case ha.KindWriteInitialize:
		dctx, cancel := a.dcsCtx(ctx, s)
		defer cancel()
		ok, err := a.store.Initialize(dctx, act.IfAbsent, act.SysID)
		if err == nil && !ok {
			err = errors.New("another member wrote the initialize key first")
		}
		return err
	case ha.KindWriteConfig:
		dctx, cancel := a.dcsCtx(ctx, s)
		defer cancel()
		_, err := a.store.SetConfig(dctx, cluster.EncodeConfig(a.currentDynamicRaw()), 0)
		return err
	case ha.KindTakeLeader:
		if err := a.failsafe.claimLeader(); err != nil {
			return err
		}
		if err := a.takeLeader(ctx, s); err != nil {
			a.failsafe.setLeader(false)
			return err
		}
		a.writeFailsafe(ctx, cl, s)
		return nil
	case ha.KindRefreshLeader:
		if err := a.refreshLeader(ctx, s); err != nil {
			return err
		}
		a.writeFailsafe(ctx, cl, s)
		return nil
	case ha.KindReleaseLeader:
		dctx, cancel := a.dcsCtx(ctx, s)
		defer cancel()
		a.dropLock()
		if err := a.store.ReleaseLeader(dctx); err != nil {
			return err
		}
		if act.Backoff {
			a.log.Warn("Releasing the leader key voluntarily because the pre-promote script failed")
			a.prePromoteFailed, a.prePromoteReleased = false, a.now()
		}
		if a.startFailed {
			a.startFailedDemoted()
		}
		return nil
	case ha.KindStop:
		// Once PostgreSQL is told to stop, this node no longer presents itself as the
		// lock holder (Patroni clears its leader flag on demotion), before the stop.
		a.dropLock()
		return a.node.Stop(ctx, act.Mode)
	case ha.KindEnsureSlots:
		positions, err := a.node.EnsureSlots(ctx, *act.SlotTargets)
		if act.SlotTargets.Primary && positions != nil {
			a.slotPositions = positions
		}
		return err
	case ha.KindCopySlots:
		leader, ok := cl.Member(act.Member)
		if !ok {
			return fmt.Errorf("copy slots: leader %s is not a member", act.Member)
		}
		return a.startWorker(ctx, act, func(ctx context.Context) error { return a.node.CopySlots(ctx, leader, act.SlotNames) })
	case ha.KindCancelBusy:
		a.cancelBusy()
		return nil
	case ha.KindExit:
		a.fatal = &refusal{msg: act.Message}
		return nil
	case ha.KindBootstrap:
		if ha.IsRemote(act.Member) {
			remote := a.remoteMember(act.Member)
			return a.startWorker(ctx, act, func(ctx context.Context) error { return a.bootstrapStandby(ctx, s, remote) })
		}
		return a.startWorker(ctx, act, func(ctx context.Context) error { return a.bootstrap(ctx, s) })
	case ha.KindClone:
		from, _ := cl.Member(act.Member)
		return a.startWorker(ctx, act, func(ctx context.Context) error {
			if err := a.node.Clone(ctx, from); err != nil {
				return err
			}
			a.setUpstream(from.Name)
			return nil
		})
	case ha.KindFollow:
		upstream, leader := followedMember(cl, act.Member), followedMember(cl, act.Leader)
		if ha.IsRemote(act.Member) {
			upstream = a.remoteMember(act.Member)
		}
		if ha.IsRemote(act.Leader) {
			// Without an address (restore_command only) there is nothing to check against.
			if leader = a.remoteMember(act.Leader); leader.ConnURL == "" {
				leader = nil
			}
		}
		return a.startWorker(ctx, act, func(ctx context.Context) error {
			if err := a.node.Follow(ctx, upstream, leader); err != nil {
				return err
			}
			a.setUpstream(act.Member)
			return nil
		})
	case ha.KindStartPrimary:
		return a.startWorker(ctx, act, func(ctx context.Context) error {
			a.setUpstream("")
			return a.node.StartPrimary(ctx)
		})
	case ha.KindDemote:
		a.dropLock()
		return a.startWorker(ctx, act, func(ctx context.Context) error { return a.demote(ctx, s) })
	case ha.KindClearFailover:
		dctx, cancel := a.dcsCtx(ctx, s)
		defer cancel()
		rev := int64(-1)
		if cl != nil && cl.Failover != nil && cl.Failover.Revision > 0 {
			rev = cl.Failover.Revision
		}
		_, err := a.store.SetFailover(dctx, []byte("{}"), rev)
		return err
	case ha.KindSetSyncStandbys:
		a.syncGUCChanged = true
		return a.node.SetSyncStandbyNames(ctx, act.Value, act.Release)
	case ha.KindWriteSync:
		dctx, cancel := a.dcsCtx(ctx, s)
		defer cancel()
		rev := int64(0)
		if cl != nil && cl.Sync != nil && cl.Sync.Revision > 0 {
			rev = cl.Sync.Revision
		}
		ok, err := a.store.SetSync(dctx, cluster.EncodeSync(cluster.SyncState{Leader: s.Name, SyncStandby: act.Standbys, Quorum: act.Quorum}), rev)
		if err == nil && !ok {
			a.log.Warn("Synchronous replication key updated by someone else")
			err = errors.New("the sync key changed since it was read")
		}
		if err == nil && act.Quorum != nil {
			a.log.Info(fmt.Sprintf("Quorum commit voters assigned to %v with quorum %d", act.Standbys, *act.Quorum))
		} else if err == nil {
			a.log.Info(fmt.Sprintf("Synchronous standby status assigned to %v", act.Standbys))
		}
		return err
	case ha.KindDeleteSync:
		dctx, cancel := a.dcsCtx(ctx, s)
		defer cancel()
		rev := int64(0)
		if cl != nil && cl.Sync != nil {
			rev = cl.Sync.Revision
		}
		if err := a.store.DeleteSync(dctx, rev); err != nil {
			return err
		}
		a.log.Info("Disabled synchronous replication")
		return nil
	case ha.KindRestart:
		return a.startWorker(ctx, act, a.node.Restart)
	case ha.KindActivateWatchdog:
		if a.opts.Watchdog == nil {
			return nil
		}
		return a.opts.Watchdog.Activate(s.TTL, s.LoopWait)
	case ha.KindReinitialize:
		from, _ := cl.Member(act.Member)
		return a.startWorker(ctx, act, func(ctx context.Context) error {
			if err := a.node.Reinitialize(ctx, from); err != nil {
				return err
			}
			a.setUpstream(from.Name)
			return nil
		})
	case ha.KindPromote:
		history := []cluster.HistoryEntry(nil)
		if cl != nil {
			history = append(history, cl.History...)
		}
		return a.startWorker(ctx, act, func(ctx context.Context) error { return a.promote(ctx, s, history) })
	}
	return fmt.Errorf("unknown action %s", act)
}

// dropLock forgets the lease and republishes the status at once, so health checks stop
// naming this node primary before PostgreSQL is stopped or the key released.
func (a *Agent) dropLock() {
	a.lastRefresh = time.Time{}
	a.failsafe.setLeader(false)
	if a.opts.Fence != nil {
		a.opts.Fence.Disarm()
	}
	if st := a.status.Load(); st != nil && !st.LockValidUntil.IsZero() {
		copied := *st
		copied.LockValidUntil = time.Time{}
		a.status.Store(&copied)
	}
}

// followedMember is the named member's record (the leader's may be a stub when its
// member key is gone); nil for "".
func followedMember(cl *cluster.Cluster, name string) *cluster.Member {
	if name == "" || cl == nil {
		return nil
	}
	m, _ := cl.LeaderMember()
	if m.Name != name {
		m, _ = cl.Member(name)
	}
	return &m
}

func (a *Agent) setUpstream(name string) {
	a.mu.Lock()
	a.upstream = name
	a.mu.Unlock()
}

func (a *Agent) takeLeader(ctx context.Context, s ha.Settings) error {
	dctx, cancel := a.dcsCtx(ctx, s)
	defer cancel()
	sent := a.now()
	ok, err := a.store.AcquireLeader(dctx)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("another member holds the leader key")
	}
	a.lastRefresh, a.lockLost, a.failsafe.confirmed = sent, false, nil
	a.feedWatchdog(s)
	return nil
}

func (a *Agent) refreshLeader(ctx context.Context, s ha.Settings) error {
	dctx, cancel := a.dcsCtx(ctx, s)
	defer cancel()
	sent := a.now()
	err := a.store.RefreshLeader(dctx)
	if errors.Is(err, dcs.ErrLockLost) {
		a.lockLost = true
		return err
	}
	if err != nil {
		return err
	}
	a.lastRefresh, a.lockLost, a.failsafe.confirmed = sent, false, nil
	a.failsafe.setLeader(true)
	a.feedWatchdog(s)
	return nil
}

// feedWatchdog restarts the watchdog's countdown right after a successful lease
// refresh, as Patroni does, so the device fires ttl - safety_margin after it.
func (a *Agent) feedWatchdog(s ha.Settings) {
	if a.opts.Watchdog != nil {
		a.opts.Watchdog.Keepalive(s.TTL, s.LoopWait)
	}
}

// remoteMember is the standby cluster's remote primary as a member to follow or clone
// from (Patroni's RemoteMember): no conn_url when only restore_command is configured.
func (a *Agent) remoteMember(name string) *cluster.Member {
	m := &cluster.Member{Name: name}
	if sb := a.dynamic.Load().Standby; sb != nil && (sb.Host != "" || sb.Port != 0) {
		host, port := sb.Host, sb.Port
		if host == "" {
			host = "localhost"
		}
		if port == 0 {
			port = 5432
		}
		m.ConnURL = fmt.Sprintf("postgres://%s/postgres", net.JoinHostPort(host, strconv.Itoa(port)))
	}
	return m
}

// bootstrapStandby initialises a new standby cluster (Patroni's
// bootstrap_standby_leader): a copy of the remote primary with pg_basebackup, started as
// a standby following it. The next cycles take the leader key as the standby leader and
// then, as its holder, write the initialize key with the remote's system identifier and
// the config key (housekeeping); nothing is promoted.
func (a *Agent) bootstrapStandby(ctx context.Context, s ha.Settings, remote *cluster.Member) error {
	fail := func(err error) error {
		cctx, cancel := a.dcsCtx(context.WithoutCancel(ctx), s)
		defer cancel()
		a.log.Info("removing initialize key after failed attempt to bootstrap the cluster")
		if cerr := a.store.CancelInitialize(cctx); cerr != nil {
			a.log.Error("could not remove the initialize key after a failed bootstrap", "err", cerr)
		}
		a.log.Error("failed to bootstrap clone from remote member "+remote.ConnURL, "err", err)
		return &fatalError{fmt.Errorf("failed to bootstrap the standby cluster: %w", err)}
	}
	sb := a.dynamic.Load().Standby
	if sb == nil {
		return fail(errors.New("standby_cluster is no longer configured"))
	}
	a.log.Info("clone from remote member "+remote.ConnURL, "methods", sb.CreateReplicaMethods)
	if err := a.node.Clone(ctx, *remote); err != nil {
		return fail(err)
	}
	a.setUpstream(remote.Name)
	a.log.Info("bootstrapped clone from remote member " + remote.ConnURL)
	return nil
}

// bootstrap initialises a new cluster: initdb and roles in the node, then the keys that
// tell the other members the cluster exists.
func (a *Agent) bootstrap(ctx context.Context, s ha.Settings) error {
	sysid, err := a.node.Bootstrap(ctx)
	if err != nil {
		cctx, cancel := a.dcsCtx(context.WithoutCancel(ctx), s)
		defer cancel()
		a.log.Info("removing initialize key after failed attempt to bootstrap the cluster")
		if cerr := a.store.CancelInitialize(cctx); cerr != nil {
			a.log.Error("could not remove the initialize key after a failed bootstrap", "err", cerr)
		}
		a.log.Error("Failed to bootstrap cluster", "err", err)
		return &fatalError{fmt.Errorf("failed to bootstrap cluster: %w", err)}
	}
	dctx, cancel := a.dcsCtx(ctx, s)
	defer cancel()
	if _, err := a.store.Initialize(dctx, false, sysid); err != nil {
		return fmt.Errorf("write initialize key: %w", err)
	}
	if _, err := a.store.SetConfig(dctx, cluster.EncodeConfig(a.opts.BootstrapDCS), 0); err != nil {
		return fmt.Errorf("write config key: %w", err)
	}
	// The leader key is taken by the next cycle's decision (a running primary in an
	// unlocked cluster), on the loop goroutine that owns the lock state.
	a.log.Info("initialized a new cluster", "sysid", sysid)
	return nil
}

// demote is the graceful half of a switchover: a checkpoint while writes still flow
// keeps the shutdown checkpoint short; the fast shutdown hands every WAL record to the
// streaming replicas before the postmaster exits; only then is the leader key released,
// and the candidate, watching the key, promotes at once.
func (a *Agent) demote(ctx context.Context, s ha.Settings) error {
	if err := a.node.Checkpoint(ctx); err != nil {
		a.log.Warn("checkpoint before the switchover failed; stopping anyway", "err", err)
	}
	if err := a.node.Stop(ctx, ha.StopFast); err != nil {
		return err
	}
	if a.opts.Watchdog != nil {
		a.opts.Watchdog.Disable()
	}
	dctx, cancel := context.WithTimeout(ctx, s.RetryTimeout)
	defer cancel()
	if err := a.store.ReleaseLeader(dctx); err != nil {
		return fmt.Errorf("release leader key after the graceful stop: %w", err)
	}
	return nil
}

// promote promotes PostgreSQL and records the timeline switch in the history key.
func (a *Agent) promote(ctx context.Context, s ha.Settings, history []cluster.HistoryEntry) error {
	p, err := a.node.Promote(ctx)
	if err != nil {
		return err
	}
	a.setUpstream("")
	entry := cluster.HistoryEntry{
		Timeline: p.OldTimeline, LSN: p.SwitchLSN, Reason: "no recovery target specified",
		Timestamp: a.now().Format("2006-01-02T15:04:05.999999-07:00"), NewLeader: a.opts.Name,
	}
	dctx, cancel := a.dcsCtx(ctx, s)
	defer cancel()
	if err := a.store.SetHistory(dctx, cluster.EncodeHistory(append(history, entry))); err != nil {
		return fmt.Errorf("write history key: %w", err)
	}
	return nil
}

func (a *Agent) currentDynamicRaw() map[string]any {
	if d := a.dynamic.Load(); d.Raw != nil {
		return d.Raw
	}
	return a.opts.BootstrapDCS
}

// refusal ends the agent without the shutdown decision: the local PostgreSQL belongs to
// another cluster, so it is neither stopped nor reconfigured.
type refusal struct{ msg string }

func (e *refusal) Error() string { return e.msg }

// fatalError ends the agent: returned by a long action that must not be retried.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }
