package agent

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"time"

	"github.com/warden-ha/warden/internal/api"
	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/ha"
)

// publish writes the member key (only when changed, the store keeps the lease alive
// either way), the leader's status key (a standby leader's too, with its received
// position, as Patroni), and the REST status.
func (a *Agent) publish(ctx context.Context, cl *cluster.Cluster, obs Observation, s ha.Settings) {
	if cl != nil {
		a.touchMember(ctx, cl, obs, s)
	}
	holds := !a.lastRefresh.IsZero() && cl != nil && cl.LeaderName() == s.Name
	if !holds || obs.InRecovery {
		a.slotPositions, a.retainSlots = nil, nil
	}
	retain := a.retainSlots
	if a.slotPositions == nil && cl != nil && !obs.InRecovery && s.UseSlots && s.MemberSlotsTTL > 0 {
		// A new leader has not looked at its slots yet: keep the previous leader's list.
		retain = cl.Status.RetainSlots
	}
	if value := cluster.EncodeStatus(cluster.Status{Optime: obs.WAL, Slots: publishedSlots(a.slotPositions, s.Name, obs.WAL), RetainSlots: retain}); holds && obs.Ready && (!obs.InRecovery || s.StandbyCluster != "") && !bytes.Equal(value, a.lastStatus) {
		dctx, cancel := a.dcsCtx(ctx, s)
		if err := a.store.SetStatus(dctx, value); err == nil {
			a.lastStatus = value
		}
		cancel()
	}
	a.status.Store(a.buildStatus(cl, obs, s))
}

// publishedSlots are the slot positions of the leader's /status key: the slots it keeps
// and, as Patroni 4 publishes, its own member slot at its WAL position, so that a replica
// keeping a slot for the leader (for after a failover) advances it.
func publishedSlots(kept map[string]uint64, name string, wal uint64) map[string]uint64 {
	if kept == nil {
		return nil
	}
	out := make(map[string]uint64, len(kept)+1)
	maps.Copy(out, kept)
	out[cluster.SlotName(name)] = wal
	return out
}

// role is the role published for this node: in a standby cluster the lock holder in
// recovery is its standby leader.
func (a *Agent) role(cl *cluster.Cluster, obs Observation, s ha.Settings) cluster.Role {
	r := a.pgRole(obs)
	if r == cluster.RoleReplica && s.StandbyCluster != "" && cl != nil && cl.LeaderName() == s.Name && !a.lastRefresh.IsZero() {
		return cluster.RoleStandbyLeader
	}
	return r
}

func (a *Agent) pgRole(obs Observation) cluster.Role {
	switch {
	case obs.Ready && obs.InRecovery:
		return cluster.RoleReplica
	case obs.Ready:
		return cluster.RolePrimary
	case obs.DataDirEmpty:
		return cluster.RoleUninitialized
	case obs.WasPrimary:
		return cluster.RolePrimary
	}
	return cluster.RoleReplica
}

func (a *Agent) touchMember(ctx context.Context, cl *cluster.Cluster, obs Observation, s ha.Settings) {
	m := cluster.Member{
		ConnURL: a.opts.ConnURL, APIURL: a.opts.APIURL, State: obs.State, Role: cluster.Role(a.speaks().RoleWord(a.role(cl, obs, s))),
		Version: cluster.Version, Tags: cluster.PublishedTags(a.opts.Tags), Pause: s.Pause, ScheduledRestart: a.scheduledRestartJSON(),
	}
	if obs.Ready {
		wal := obs.WAL
		m.XLogLocation = &wal
		m.Timeline = obs.Timeline
		m.ReplicationState = obs.ReplicationState
		m.PendingRestart, m.PendingRestartReason = obs.PendingRestart, obs.PendingRestartReason
	}
	value, wal := cluster.EncodeMember(m), m.XLogLocation
	var leaderOptime uint64
	if cl != nil {
		leaderOptime = cl.Status.Optime
	}
	if a.positionMoveOnly(m, leaderOptime) {
		value, wal = a.lastMember, a.lastMemberWAL
	}
	dctx, cancel := a.dcsCtx(ctx, s)
	defer cancel()
	if err := a.store.TouchMember(dctx, value); err != nil {
		a.log.Warn("could not update member key", "err", err)
		return
	}
	a.lastMember, a.lastMemberWAL = value, wal
}

// memberPositionStep is how far the WAL position must move before the member key is
// rewritten for the position alone: an idle cluster's stray WAL records (standby
// snapshots, checkpoints) then cost no etcd write, and what readers derive from it
// (patronictl's lag in MB, /cluster's lag) stays within half a megabyte. Failover
// decisions do not read it: a leader race asks the peers' REST APIs, and the
// maximum_lag_on_failover check uses the leader's status key, written on every change.
const memberPositionStep = 512 << 10

// positionMoveOnly: m differs from the member key last written only by a WAL position
// less than memberPositionStep away. A position that just reached the leader's published
// optime is written anyway (once), so the lag readers derive settles at zero.
func (a *Agent) positionMoveOnly(m cluster.Member, leaderOptime uint64) bool {
	if a.lastMember == nil || m.XLogLocation == nil || a.lastMemberWAL == nil {
		return false
	}
	now, was := *m.XLogLocation, *a.lastMemberWAL
	if max(now, was)-min(now, was) >= memberPositionStep || (now != was && now == leaderOptime) {
		return false
	}
	m.XLogLocation = a.lastMemberWAL
	return bytes.Equal(cluster.EncodeMember(m), a.lastMember)
}

func (a *Agent) buildStatus(cl *cluster.Cluster, obs Observation, s ha.Settings) *api.Status {
	st := &api.Status{
		Name: s.Name, Scope: a.opts.Scope, State: obs.State, Role: a.role(cl, obs, s), StandbyCluster: s.StandbyCluster != "",
		PostgresReachable: obs.Ready, ServerVersion: obs.ServerVersion, PostmasterStartTime: obs.PostmasterStartTime,
		Timeline: obs.Timeline, ReplicationState: obs.ReplicationState, Replication: obs.Replication,
		Tags: cluster.PublishedTags(a.opts.Tags), SysID: obs.SysID, DCSLastSeen: a.dcsLastSeen, TTL: s.TTL,
		NextLoop: a.now().Add(s.LoopWait), Pause: s.Pause, ScheduledRestart: a.scheduledRestartJSON(),
		MaximumLagOnFailover: s.MaximumLagOnFailover,
		Dialect:              a.speaks(),
	}
	st.PendingRestart, st.PendingRestartReason = obs.PendingRestart, obs.PendingRestartReason
	st.WatchdogFailed = a.opts.Watchdog != nil && !a.opts.Watchdog.Healthy(s.TTL, s.LoopWait)
	if obs.Ready && !obs.InRecovery {
		st.XLogLocation = obs.WAL
	} else if obs.Ready {
		st.ReceivedLocation, st.ReplayedLocation = obs.ReceivedLSN, obs.ReplayedLSN
		st.ReplayedTimestamp, st.ReplayPaused = obs.ReplayedTimestamp, obs.ReplayPaused
	}
	if cl != nil {
		st.SyncMode, st.QuorumMode = s.SynchronousMode, s.SynchronousQuorum
		st.SyncStandby = s.SynchronousMode && cl.Sync != nil && slices.Contains(cl.Sync.SyncStandby, s.Name)
		st.DCSAvailable = true
		st.ClusterUnlocked = !cl.Locked()
		st.LeaderOptime = cl.Status.Optime
		// An unlocked snapshot with a live lease is a key taken in this very cycle (or
		// taken back after a DCS outage): /primary must not blink.
		if holder := cl.LeaderName(); (holder == s.Name || holder == "") && !a.lastRefresh.IsZero() {
			st.LockValidUntil = a.trusted(s).Add(ha.HeldTTL(s, a.leaseTTL))
		}
	} else if t, ttl := a.trusted(s), ha.HeldTTL(s, a.leaseTTL); !t.IsZero() && a.now().Sub(t) < ttl {
		st.LockValidUntil = t.Add(ttl)
	}
	st.FailsafeActive = a.failsafeActive(s)
	return st
}

// scheduledRestartJSON is the scheduled_restart object Patroni publishes.
func (a *Agent) scheduledRestartJSON() map[string]any {
	at, cond := a.scheduledRestart()
	if at.IsZero() {
		return nil
	}
	out := map[string]any{"schedule": at.Format(time.RFC3339)}
	if cond.Role != "" {
		out["role"] = cond.Role
	}
	if cond.PostgresVersion != "" {
		out["postgres_version"] = cond.PostgresVersion
	}
	if cond.RestartPending {
		out["restart_pending"] = true
	}
	return out
}
