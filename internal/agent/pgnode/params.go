package pgnode

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/warden-ha/warden/internal/agent"
	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/postgres"
	"github.com/warden-ha/warden/internal/postgres/pgconf"
)

// dropUnsafe removes parameters that must not reach postgresql.conf and says why, so one
// bad value costs that parameter only, never the whole file (RenderConf refuses a file
// with one): a name that is not a GUC identifier, or a value with a newline, carriage
// return or NUL, any of which could start another setting.
func dropUnsafe(m *pgconf.Merged) {
	for name, v := range m.Parameters {
		switch {
		case !pgconf.ValidName(name):
			m.Warnings = append(m.Warnings, fmt.Sprintf("refusing parameter %q: not a valid parameter name; not written to postgresql.conf", name))
		case strings.ContainsAny(v, "\n\r\x00"):
			m.Warnings = append(m.Warnings, fmt.Sprintf("refusing %s=%q: the value contains a line break or NUL, which could add another setting; not written to postgresql.conf", name, v))
		default:
			continue
		}
		delete(m.Parameters, name)
	}
	for name, v := range m.Recovery {
		if !pgconf.ValidName(name) || strings.ContainsAny(v, "\n\r\x00") {
			m.Warnings = append(m.Warnings, fmt.Sprintf("refusing recovery parameter %s=%q: invalid name or a value with a line break or NUL", name, v))
			delete(m.Recovery, name)
		}
	}
}

// dropUnknown removes the names the binaries in bin_dir do not accept (PostgreSQL would
// refuse to start with them in postgresql.conf), as Patroni 4 does with its
// describe-config list, saying what to write instead.
func (n *Node) dropUnknown(params map[string]string, warnings *[]string) {
	if n.gucs == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, v := range params {
		ok, err := n.gucs.Accepts(ctx, name)
		switch {
		case err != nil:
			*warnings = append(*warnings, fmt.Sprintf("cannot check parameter %s against PostgreSQL %d (%v); written as it is", name, n.major, err))
		case !ok:
			*warnings = append(*warnings, fmt.Sprintf("removing %s=%q: PostgreSQL %d has no parameter %s (%s)", name, v, n.major, name, n.gucs.Hint(name)))
			delete(params, name)
		}
	}
}

// errUpstreamUnknown: the server runs as a replica this agent did not configure (adopted
// from a previous agent process) and nobody said whom it follows; rewriting its recovery
// settings without an upstream would cut its replication.
var errUpstreamUnknown = errors.New("the replica's upstream is not known yet; configuration not rewritten")

// ApplyConfig rewrites the configuration files for the role PostgreSQL runs in and asks
// it to re-read them when they changed (always when force: Patroni's reload). upstream is
// the member a replica streams from when this process has not configured it itself. It
// reports whether PostgreSQL was reloaded; a stopped server is left alone (its files
// are written when it starts).
func (n *Node) ApplyConfig(ctx context.Context, force bool, upstream *cluster.Member) (bool, error) {
	if n.running() == nil {
		return false, nil
	}
	conn, err := n.dedicatedConn(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	obs, err := conn.Observe(ctx)
	if err != nil {
		return false, err
	}
	n.mu.Lock()
	leader, known := n.leader, n.followed
	n.mu.Unlock()
	if obs.InRecovery && !known {
		if upstream == nil && !n.opts.NoStream {
			return false, errUpstreamUnknown
		}
		leader = upstream
	}
	_, changed, err := n.writeConfig(obs.InRecovery, leader)
	if err != nil {
		return false, err
	}
	if !changed && !force {
		return false, nil
	}
	if changed {
		n.log.Info("configuration files changed; reloading PostgreSQL")
	}
	return true, conn.Reload(ctx)
}

// fillPending reports the parameters waiting for a restart: those PostgreSQL flags
// pending_restart after a reload, and the command-line ones (max_connections, wal_level,
// ...) whose configured value differs from the one in force; PostgreSQL never flags
// those, because a command-line value outranks the file.
// It returns the pg_settings rows it read (nil when the query failed).
func (n *Node) fillPending(ctx context.Context, conn *postgres.Conn, o *agent.Observation) []postgres.Setting {
	rows, err := conn.RestartSettings(ctx)
	if err != nil {
		n.log.Debug("could not read pg_settings", "err", err)
		return nil
	}
	want := n.merged().Parameters
	cmdline := map[string]bool{}
	for _, opt := range pgconf.CommandLineOptions(want, n.major) {
		name, _, _ := strings.Cut(strings.TrimPrefix(opt, "--"), "=")
		cmdline[name] = true
	}
	reason := pendingReason(rows, want, cmdline)
	if len(reason) > 0 {
		o.PendingRestart, o.PendingRestartReason = true, reason
	}
	return rows
}

// fillInsufficient finds out, for a standby whose replay is paused, whether the primary
// raised a parameter above the value in force here: replay of the parameter change
// writes the primary's values to pg_control before PostgreSQL checks them, so pg_control
// holding a higher value than the server runs with is exactly that stop. A pause an
// operator asked for leaves pg_control at or below the running values.
func (n *Node) fillInsufficient(ctx context.Context, rows []postgres.Setting, o *agent.Observation) {
	if !o.InRecovery || !o.ReplayPaused || rows == nil {
		return
	}
	cd, err := n.tools.ControlData(ctx, n.opts.DataDir)
	if err != nil {
		n.log.Warn("replay is paused and pg_controldata failed", "err", err)
		return
	}
	running := make(map[string]string, len(rows))
	for _, s := range rows {
		running[s.Name] = s.Current
	}
	for _, s := range pgconf.StandbyShortfalls(running, cd, n.major) {
		o.Insufficient = append(o.Insufficient, s.String())
	}
}

func pendingReason(rows []postgres.Setting, want map[string]string, cmdline map[string]bool) map[string]cluster.ParamChange {
	reason := map[string]cluster.ParamChange{}
	for _, s := range rows {
		desired, ok := want[s.Name]
		switch {
		case pgconf.IsRecoveryParameter(s.Name):
			// As in Patroni: recovery_target* left by a restore's recovery, or changed
			// on a replica, never ask for a restart.
		case s.PendingRestart:
			if !ok {
				// Removed from Warden's parameters: a restart falls back to the
				// included base file or the built-in default, unknown here (Patroni: '?').
				desired = "?"
			}
			reason[s.Name] = cluster.ParamChange{OldValue: s.Current, NewValue: desired}
		case ok && cmdline[s.Name] && !sameSetting(s, desired):
			reason[s.Name] = cluster.ParamChange{OldValue: s.Current, NewValue: desired}
		}
	}
	return reason
}

// sameSetting compares a configured value with the one in force the way PostgreSQL
// would read it for the command-line parameters: integers, booleans and words.
func sameSetting(s postgres.Setting, v string) bool {
	cur, v := strings.TrimSpace(s.Current), strings.TrimSpace(v)
	if strings.EqualFold(cur, v) {
		return true
	}
	switch s.VarType {
	case "bool":
		a, okA := pgconf.ParseBool(cur)
		b, okB := pgconf.ParseBool(v)
		return okA && okB && a == b
	case "integer":
		a, errA := strconv.ParseInt(cur, 10, 64)
		b, errB := strconv.ParseInt(v, 10, 64)
		return errA == nil && errB == nil && a == b
	}
	return false
}
