package pgnode

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/ha"
	"github.com/warden-ha/warden/internal/postgres"
	"github.com/warden-ha/warden/internal/postgres/pgconf"
)

// Follow makes PostgreSQL a replica streaming from upstream (the leader, or the member a
// cascading replica replicates from), or a replica without primary_conninfo when
// upstream is nil. When the leader is known it first checks that the local data has not
// diverged from the leader's timeline; diverged data is rewound from the leader, or
// re-cloned (the old directory moved aside) when pg_rewind cannot be used or fails.
func (n *Node) Follow(ctx context.Context, upstream, leader *cluster.Member) error {
	if n.running() == nil {
		n.adopt()
	}
	if n.running() != nil {
		diverged := false
		if leader != nil {
			var err error
			if diverged, err = n.divergedRunning(ctx, *leader); err != nil && !remoteUnchecked(n, *leader, err) {
				return err
			}
		}
		if !diverged {
			return n.reconfigure(ctx, upstream)
		}
		n.log.Info("local data diverged from the new leader's timeline; stopping PostgreSQL to repair it", "leader", leader.Name)
		if err := n.Stop(ctx, "fast"); err != nil {
			return err
		}
	}
	return n.followStopped(ctx, upstream, leader)
}

// reconfigure points a running replica at upstream and reloads when the files changed
// (primary_conninfo is reloadable from PostgreSQL 13).
func (n *Node) reconfigure(ctx context.Context, upstream *cluster.Member) error {
	_, changed, err := n.writeConfig(true, upstream)
	if err != nil {
		return err
	}
	if changed {
		conn, err := n.dedicatedConn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		if err := conn.Reload(ctx); err != nil {
			return err
		}
	}
	n.setLeader(upstream)
	return nil
}

func (n *Node) followStopped(ctx context.Context, upstream, leader *cluster.Member) error {
	if leader == nil {
		return n.startReplica(ctx, upstream)
	}
	cd, err := n.tools.ControlData(ctx, n.opts.DataDir)
	if err != nil {
		return err
	}
	if cd.State == pgconf.StateInProduction {
		// A crashed primary's last WAL position is only known after crash recovery.
		if cd, err = n.crashRecovery(ctx); err != nil {
			return err
		}
	}
	diverged, err := n.diverged(ctx, cd.Position(), *leader)
	if err != nil && !remoteUnchecked(n, *leader, err) {
		return err
	}
	if diverged {
		if !cd.CleanlyShutDown() {
			if cd, err = n.shutDownCleanly(ctx); err != nil {
				return err
			}
		}
		return n.repair(ctx, cd, *leader, upstream)
	}
	return n.startReplica(ctx, upstream)
}

// remoteUnchecked: the timeline check against a standby cluster's remote primary
// failed (it is unreachable, the usual case for a disaster-recovery site, or refuses the
// rewind user); the standby leader follows it without the check rather than not
// starting (Patroni does the same).
func remoteUnchecked(n *Node, leader cluster.Member, err error) bool {
	if !ha.IsRemote(leader.Name) {
		return false
	}
	n.log.Warn("could not check the timeline against the remote primary; following it without the check", "err", err)
	return true
}

// crashRecovery replays a crashed primary's WAL in single-user mode, which refuses to
// run in standby mode, so the standby signal is removed first.
func (n *Node) crashRecovery(ctx context.Context) (pgconf.ControlData, error) {
	n.log.Info("doing crash recovery in a single user mode")
	if _, err := n.dir.SetStandby(false); err != nil {
		return pgconf.ControlData{}, err
	}
	m := n.params()
	if err := n.tools.CrashRecovery(ctx, n.opts.DataDir, n.dir.ConfFile(), pgconf.CommandLineOptions(m.Parameters, n.major)); err != nil {
		return pgconf.ControlData{}, err
	}
	return n.tools.ControlData(ctx, n.opts.DataDir)
}

// shutDownCleanly brings a crashed standby to a clean shutdown for pg_rewind: start it
// as a standby without upstream, let it reach consistency, stop it.
func (n *Node) shutDownCleanly(ctx context.Context) (pgconf.ControlData, error) {
	n.log.Info("starting the crashed standby without upstream to shut it down cleanly before pg_rewind")
	if err := n.startReplica(ctx, nil); err != nil {
		return pgconf.ControlData{}, err
	}
	if err := n.Stop(ctx, "fast"); err != nil {
		return pgconf.ControlData{}, err
	}
	return n.tools.ControlData(ctx, n.opts.DataDir)
}

func (n *Node) divergedRunning(ctx context.Context, leader cluster.Member) (bool, error) {
	conn, err := n.dedicatedConn(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	obs, err := conn.Observe(ctx)
	if err != nil {
		return false, err
	}
	if !obs.InRecovery {
		return true, nil
	}
	tl, err := n.replayTimeline(ctx)
	if err != nil {
		return false, err
	}
	return n.diverged(ctx, pgconf.LocalPosition{Timeline: tl, LSN: obs.ReplayedLSN}, leader)
}

// diverged compares the local position with the leader's timeline history.
func (n *Node) diverged(ctx context.Context, local pgconf.LocalPosition, leader cluster.Member) (bool, error) {
	host, port, err := memberAddress(leader)
	if err != nil {
		return false, err
	}
	conn, err := postgres.Connect(ctx, n.opts.Rewind.at(host, port))
	if err != nil {
		return false, fmt.Errorf("connect to leader %s for the timeline check: %w", leader.Name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tl, err := conn.Timeline(ctx)
	if errors.Is(err, postgres.ErrNotPrimary) && n.opts.Dynamic().Standby != nil {
		// The standby leader of a standby cluster: IDENTIFY_SYSTEM names the timeline it
		// replays. Elsewhere a leader still in recovery is promoting, and the timeline it
		// names now would be the one it is about to leave: the check waits for the next
		// cycle.
		_, tl, err = postgres.IdentifySystem(ctx, n.opts.Replication.at(host, port))
	}
	if err != nil {
		return false, fmt.Errorf("leader %s: %w", leader.Name, err)
	}
	var history []pgconf.HistoryLine
	if local.Timeline < tl && tl > 1 {
		raw, err := conn.ReadTimelineHistory(ctx, tl)
		if err != nil {
			return false, err
		}
		if history, err = pgconf.ParseHistory(raw); err != nil {
			return false, err
		}
	}
	need := pgconf.NeedsRewind(local, tl, history)
	n.log.Info("checked timeline divergence", "leader", leader.Name, "local_timeline", local.Timeline,
		"local_lsn", cluster.FormatLSN(local.LSN), "leader_timeline", tl, "diverged", need)
	return need, nil
}

// repair rewinds a cleanly stopped, diverged data directory from leader and starts it
// streaming from upstream, or re-clones it from the leader when pg_rewind is off,
// impossible (no wal_log_hints and no checksums) or failing.
func (n *Node) repair(ctx context.Context, cd pgconf.ControlData, leader cluster.Member, upstream *cluster.Member) error {
	if n.usePgRewind() && (cd.WALLogHints || cd.DataChecksums) {
		n.log.Info(fmt.Sprintf("running pg_rewind from %s", leader.Name))
		host, port, err := memberAddress(leader)
		if err != nil {
			return err
		}
		if _, err := n.writePgpass(host, port); err != nil {
			return err
		}
		n.checkpointSource(ctx, host, port)
		err = n.tools.Rewind(ctx, n.opts.DataDir, rewindDSN(n.opts.Rewind, host, port, n.major), n.secrets(), nil)
		if err == nil {
			n.log.Info("pg_rewind finished", "leader", leader.Name)
			return n.startReplica(ctx, upstream)
		}
		n.log.Error("pg_rewind failed; re-cloning from the leader", "err", err)
	} else {
		n.log.Warn("data diverged and pg_rewind cannot be used (use_pg_rewind off, or neither wal_log_hints nor data checksums); re-cloning from the leader")
	}
	if err := n.moveAside("diverged"); err != nil {
		return err
	}
	return n.Clone(ctx, leader)
}

// replayTimeline is the timeline a running standby replays: IDENTIFY_SYSTEM over a
// local replication connection as the replication role (through the socket with
// use_unix_socket_repl), falling back to the WAL receiver's and then the last
// restartpoint's timeline when pg_hba.conf refuses it.
func (n *Node) replayTimeline(ctx context.Context) (int, error) {
	if _, tl, err := postgres.IdentifySystem(ctx, n.localReplicationParams()); err == nil {
		return tl, nil
	} else {
		n.log.Debug("IDENTIFY_SYSTEM on the local server failed", "err", err)
	}
	conn, err := n.dedicatedConn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	obs, err := conn.Observe(ctx)
	if err != nil {
		return 0, err
	}
	if obs.Timeline > 0 {
		return obs.Timeline, nil
	}
	cd, err := n.tools.ControlData(ctx, n.opts.DataDir)
	if err != nil {
		return 0, err
	}
	return cd.Timeline, nil
}

// checkpointSource makes a freshly promoted leader write its post-promotion checkpoint
// before pg_rewind reads its control file: until then the control file still names the
// old timeline, and pg_rewind answers "no rewind required" for a diverged target, which
// then cannot stream ("new timeline forked off ... before current recovery point").
func (n *Node) checkpointSource(ctx context.Context, host string, port int) {
	conn, err := postgres.Connect(ctx, n.opts.Superuser.at(host, port))
	if err != nil {
		n.log.Warn("could not connect to the leader to checkpoint it before pg_rewind", "err", err)
		return
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := conn.Checkpoint(ctx); err != nil {
		n.log.Warn("CHECKPOINT on the leader before pg_rewind failed", "err", err)
	}
}

// rewindDSN is pg_rewind's --source-server as Patroni renders it: the rewind role on the
// leader with its client options, target_session_attrs=read-write from PostgreSQL 10.
func rewindDSN(a Auth, host string, port, major int) string {
	ci := pgconf.ConnInfo{DBName: "postgres", User: a.User, Host: host, Port: strconv.Itoa(port), ClientSSL: a.SSL}
	if major >= 10 {
		ci.TargetSessionAttrs = "read-write"
	}
	return pgconf.PrimaryConnInfo(ci.ForMajor(major))
}
