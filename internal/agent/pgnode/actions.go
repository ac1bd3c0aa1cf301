package pgnode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/warden-ha/warden/internal/agent"
	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/ha"
	"github.com/warden-ha/warden/internal/postgres"
	"github.com/warden-ha/warden/internal/postgres/pgconf"
)

// Bootstrap initialises a new cluster: initdb, bootstrap.pg_hba, configuration, start,
// roles. On failure the data directory is moved aside to <data_dir>.failed.
func (n *Node) Bootstrap(ctx context.Context) (string, error) {
	sysid, err := n.bootstrap(ctx)
	if err != nil {
		if pm := n.running(); pm != nil {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.opts.PgCtlTimeout)
			_ = pm.Stop(sctx, postgres.StopImmediate)
			cancel()
		}
		if fileExists(n.opts.DataDir) {
			failed := n.opts.DataDir + ".failed"
			_ = os.RemoveAll(failed)
			if rerr := os.Rename(n.opts.DataDir, failed); rerr == nil {
				n.log.Error("moved the data directory of the failed bootstrap aside", "path", failed)
			}
		}
		return "", err
	}
	return sysid, nil
}

func (n *Node) bootstrap(ctx context.Context) (string, error) {
	n.forgetSysID()
	if n.opts.Custom != nil {
		return n.customBootstrap(ctx, *n.opts.Custom)
	}
	if err := n.tools.InitDB(ctx, n.opts.DataDir, n.opts.Superuser.User, n.opts.Superuser.Password, n.opts.InitDB); err != nil {
		return "", err
	}
	if err := n.appendBootstrapHBA(); err != nil {
		return "", err
	}
	m, _, err := n.writeConfig(false, nil)
	if err != nil {
		return "", err
	}
	if err := n.start(ctx, m.Parameters); err != nil {
		return "", err
	}
	conn, err := n.dedicatedConn(ctx)
	if err != nil {
		return "", fmt.Errorf("connect after initdb: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := n.ensureSuperuser(ctx, conn); err != nil {
		return "", err
	}
	return n.finishBootstrap(ctx, conn)
}

// appendBootstrapHBA appends bootstrap.pg_hba to initdb's pg_hba.conf when neither the
// local nor the dynamic configuration owns the file (Patroni's rule).
func (n *Node) appendBootstrapHBA() error {
	if len(n.opts.BootstrapHBA) == 0 || localHBA(n) != nil || n.opts.Dynamic().PgHBA != nil {
		return nil
	}
	path := n.dir.HBAFile()
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read pg_hba.conf: %w", err)
	}
	// Patroni appends "\n" + lines + "\n": a blank line after initdb's file.
	content := string(old) + "\n" + strings.Join(n.opts.BootstrapHBA, "\n") + "\n"
	_, err = n.dir.WriteFile(path, []byte(content), 0o600)
	return err
}

// ensureSuperuser gives the superuser its configured password (Patroni does it after
// initdb too).
func (n *Node) ensureSuperuser(ctx context.Context, conn *postgres.Conn) error {
	su := n.opts.Superuser
	return conn.EnsureRole(ctx, su.User, su.Password, []string{"SUPERUSER", "LOGIN"})
}

// createRoles ensures the replication and rewind roles and bootstrap.users, after
// the superuser and post_bootstrap (Patroni's order).
func (n *Node) createRoles(ctx context.Context, conn *postgres.Conn) error {
	su, repl, rw := n.opts.Superuser, n.opts.Replication, n.opts.Rewind
	if repl.User != "" && repl.User != su.User {
		if err := conn.EnsureRole(ctx, repl.User, repl.Password, []string{"REPLICATION", "LOGIN"}); err != nil {
			return err
		}
	}
	if rw.User != "" && rw.User != su.User {
		if err := conn.EnsureRole(ctx, rw.User, rw.Password, []string{"LOGIN"}); err != nil {
			return err
		}
		if err := conn.GrantRewind(ctx, rw.User); err != nil {
			return err
		}
	}
	for name, u := range n.opts.Users {
		if err := conn.EnsureRole(ctx, name, u.Password, append([]string{"LOGIN"}, u.Options...)); err != nil {
			return err
		}
	}
	return nil
}

// replicationDSN is the libpq connection string to a member for the replication user;
// the password comes from the pgpass file.
func (n *Node) replicationDSN(m cluster.Member) (string, error) {
	host, port, err := memberAddress(m)
	if err != nil {
		return "", err
	}
	if _, err := n.writePgpass(host, port); err != nil {
		return "", err
	}
	return pgconf.PrimaryConnInfo(pgconf.ConnInfo{DBName: "postgres", User: n.opts.Replication.User,
		Host: host, Port: strconv.Itoa(port), ClientSSL: n.opts.Replication.SSL}.ForMajor(n.major)), nil
}

// Clone creates the data directory with the replica creation methods (pg_basebackup
// from a running member unless create_replica_methods says otherwise) and starts it as
// a replica of that member. A member without a name means no source (no leader): the
// replica starts without primary_conninfo and the next decision points it at a leader.
func (n *Node) Clone(ctx context.Context, from cluster.Member) error {
	n.forgetSysID()
	if err := n.createReplica(ctx, from); err != nil {
		return err
	}
	if err := n.dir.EnsureMode(); err != nil {
		return err
	}
	if from.Name == "" || from.ConnURL == "" {
		return n.startReplica(ctx, nil)
	}
	return n.startReplica(ctx, &from)
}

func (n *Node) startReplica(ctx context.Context, leader *cluster.Member) error {
	m, _, err := n.writeConfig(true, leader)
	if err != nil {
		return err
	}
	if err := n.start(ctx, m.Parameters); err != nil {
		return err
	}
	n.setLeader(leader)
	return nil
}

func nameOf(m *cluster.Member) string {
	if m == nil {
		return ""
	}
	return m.Name
}

// StartPrimary starts PostgreSQL as a primary (crash recovery happens in the server).
func (n *Node) StartPrimary(ctx context.Context) error {
	m, _, err := n.writeConfig(false, nil)
	if err != nil {
		return err
	}
	n.setLeader(nil)
	return n.start(ctx, m.Parameters)
}

// immediateStopTimeout bounds an immediate shutdown before the postmaster is killed.
const immediateStopTimeout = 5 * time.Second

// Stop stops PostgreSQL; a server that is not running is not an error.
func (n *Node) Stop(ctx context.Context, mode ha.StopMode) error {
	pm := n.running()
	if pm == nil {
		pm = n.adopt()
	}
	if pm == nil {
		return nil
	}
	if mode != ha.StopImmediate {
		n.beforeStop(ctx)
	}
	n.closeConn()
	timeout := n.opts.PgCtlTimeout
	if mode == ha.StopImmediate {
		// An immediate shutdown takes milliseconds; one that does not (a frozen
		// postmaster) is killed rather than left holding the data directory.
		timeout = min(timeout, immediateStopTimeout)
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := pm.Stop(sctx, stopMode(string(mode))); err != nil {
		return fmt.Errorf("stop postgres (%s): %w", mode, err)
	}
	return nil
}

// Promote promotes the replica, checkpoints so pg_rewind can use this server as a
// source at once, and returns the timeline switch.
func (n *Node) Promote(ctx context.Context) (agent.Promotion, error) {
	if err := n.prePromote(ctx); err != nil {
		return agent.Promotion{}, err
	}
	conn, err := n.dedicatedConn(ctx)
	if err != nil {
		return agent.Promotion{}, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	before, err := conn.Observe(ctx)
	if err != nil {
		return agent.Promotion{}, err
	}
	oldTL := before.Timeline
	if oldTL == 0 {
		if cd, err := n.tools.ControlData(ctx, n.opts.DataDir); err == nil {
			oldTL = cd.Timeline
		}
	}
	if err := n.tools.Promote(ctx, n.opts.DataDir); err != nil {
		return agent.Promotion{}, err
	}
	n.warnUnready()
	n.setLeader(nil)
	if _, _, err := n.writeConfig(false, nil); err != nil {
		n.log.Warn("could not rewrite the configuration after promotion", "err", err)
	}
	p := agent.Promotion{OldTimeline: oldTL}
	if err := conn.Checkpoint(ctx); err != nil {
		n.log.Warn("checkpoint after promote failed", "err", err)
	}
	tl, err := conn.Timeline(ctx)
	if err != nil {
		return p, nil
	}
	if hist, err := conn.ReadTimelineHistory(ctx, tl); err == nil {
		if lines, err := pgconf.ParseHistory(hist); err == nil && len(lines) > 0 {
			last := lines[len(lines)-1]
			p.OldTimeline, p.SwitchLSN = last.ParentTimeline, last.SwitchLSN
		}
	}
	return p, nil
}

// moveAside renames the data directory so a re-clone never destroys data.
func (n *Node) moveAside(why string) error {
	dst := fmt.Sprintf("%s.%s-%s", filepath.Clean(n.opts.DataDir), why, strconv.FormatInt(time.Now().Unix(), 10))
	if err := os.Rename(n.opts.DataDir, dst); err != nil {
		return fmt.Errorf("move data directory aside: %w", err)
	}
	n.log.Warn("moved the data directory aside before re-cloning", "path", dst)
	return nil
}

// Checkpoint runs CHECKPOINT on the local server.
func (n *Node) Checkpoint(ctx context.Context) error {
	conn, err := n.dedicatedConn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return conn.Checkpoint(ctx)
}

// Restart stops PostgreSQL (fast) and starts it again with the configuration on disk,
// so it comes back in the role it had.
func (n *Node) Restart(ctx context.Context) error {
	if err := n.Stop(ctx, "fast"); err != nil {
		return err
	}
	return n.start(ctx, n.params().Parameters)
}

// Reinitialize removes the data directory, as the operator asked, and clones it again.
func (n *Node) Reinitialize(ctx context.Context, leader cluster.Member) error {
	if err := n.Stop(ctx, "immediate"); err != nil {
		return err
	}
	n.log.Warn("reinitialize: removing the data directory", "data_dir", n.opts.DataDir)
	if err := os.RemoveAll(n.opts.DataDir); err != nil {
		return fmt.Errorf("reinitialize: remove data directory: %w", err)
	}
	return n.Clone(ctx, leader)
}
