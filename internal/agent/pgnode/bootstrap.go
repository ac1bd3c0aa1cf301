package pgnode

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/warden-ha/warden/internal/callbacks"
	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/postgres"
	"github.com/warden-ha/warden/internal/postgres/pgconf"
)

// finishBootstrap runs post_bootstrap and creates the remaining roles on a new cluster
// whose superuser exists with its configured password, and returns the system
// identifier.
func (n *Node) finishBootstrap(ctx context.Context, conn *postgres.Conn) (string, error) {
	if err := n.runPostBootstrap(ctx); err != nil {
		return "", err
	}
	if err := n.createRoles(ctx, conn); err != nil {
		return "", err
	}
	cd, err := n.tools.ControlData(ctx, n.opts.DataDir)
	if err != nil {
		return "", err
	}
	return cd.SysID, nil
}

// customBootstrap restores the data directory with the method's command instead of
// initdb, starts it, waits for a point-in-time recovery to end and sets the superuser's
// password through a temporary peer-authenticated socket connection, since the
// restored cluster's passwords and pg_hba.conf are not Warden's.
func (n *Node) customBootstrap(ctx context.Context, m CustomBootstrap) (string, error) {
	if err := n.runBootstrapCommand(ctx, m); err != nil {
		return "", err
	}
	merged := n.params()
	if err := n.prepareRestored(m, merged); err != nil {
		return "", err
	}
	if err := n.appendBootstrapHBA(); err != nil {
		return "", err
	}
	access, err := n.openPeerAccess()
	if err != nil {
		return "", err
	}
	if err := n.start(ctx, merged.Parameters); err != nil {
		return "", err
	}
	if err := n.superuserOverSocket(ctx); err != nil {
		return "", err
	}
	if err := n.closePeerAccess(ctx, access); err != nil {
		return "", err
	}
	conn, err := n.connectAfterReload(ctx)
	if err != nil {
		return "", fmt.Errorf("connect with the superuser's password after the custom bootstrap (pg_hba.conf must admit %s): %w", n.localConnParams().LogValue(), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return n.finishBootstrap(ctx, conn)
}

// bootstrapArgs is the method's command split like Patroni (shlex) with
// --scope=<scope> --datadir=<data_dir> appended unless no_params, then the section's
// other keys as --key=value (Patroni 3.1+; sorted by key, as for replica methods).
func bootstrapArgs(m CustomBootstrap, scope, dataDir string) ([]string, error) {
	argv, err := callbacks.Split(m.Command)
	if err != nil {
		return nil, fmt.Errorf("bootstrap.%s.command: %w", m.Name, err)
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("bootstrap.%s.command is empty", m.Name)
	}
	if !m.NoParams {
		argv = append(argv, "--scope="+scope, "--datadir="+dataDir)
	}
	for _, k := range slices.Sorted(maps.Keys(m.Params)) {
		argv = append(argv, fmt.Sprintf("--%s=%s", k, pyStr(m.Params[k])))
	}
	return argv, nil
}

func (n *Node) runBootstrapCommand(ctx context.Context, m CustomBootstrap) error {
	argv, err := bootstrapArgs(m, n.opts.Scope, n.opts.DataDir)
	if err != nil {
		return err
	}
	n.log.Info("Running custom bootstrap script: " + m.Command)
	start := time.Now()
	code, err := n.runScript(ctx, "bootstrap."+m.Name, argv, 0, nil)
	if err == nil && code != 0 {
		err = fmt.Errorf("%s exited with code %d", argv[0], code)
	}
	if err != nil {
		n.log.Error("custom bootstrap failed", "method", m.Name, "err", err)
		return fmt.Errorf("custom bootstrap script: %w", err)
	}
	n.log.Info("custom bootstrap script finished", "method", m.Name, "elapsed", time.Since(start).Round(time.Millisecond))
	return nil
}

// prepareRestored checks what the command left and puts the recovery settings in the
// state bootstrap.<method> asks for.
func (n *Node) prepareRestored(m CustomBootstrap, merged pgconf.Merged) error {
	if !fileExists(filepath.Join(n.opts.DataDir, "PG_VERSION")) {
		return fmt.Errorf("custom bootstrap script left no PostgreSQL data directory in %s", n.opts.DataDir)
	}
	if err := n.dir.EnsureMode(); err != nil {
		return err
	}
	// A promote trigger left in the backup would end the recovery at once.
	if err := os.Remove(filepath.Join(n.opts.DataDir, "promote")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove the promote trigger file: %w", err)
	}
	plan := pgconf.PlanRestore(m.RecoveryConf, m.KeepExistingRecoveryConf, n.major)
	switch {
	case plan.Params != nil:
		n.log.Info(fmt.Sprintf("writing bootstrap.%s.recovery_conf as the recovery parameters", m.Name), "signal", plan.Signal)
	case plan.RemoveExisting:
		n.log.Info("removing the recovery settings the custom bootstrap script left (keep_existing_recovery_conf is not set)")
	default:
		n.log.Info("keeping the recovery settings the custom bootstrap script left (keep_existing_recovery_conf)")
	}
	if plan.RemoveExisting {
		if err := n.dir.RemoveRecoveryFiles(); err != nil {
			return err
		}
	}
	if plan.SanitizeAutoConf {
		if _, err := n.dir.SanitizeAutoConf(); err != nil {
			return err
		}
	}
	if plan.Params != nil && n.major < 12 {
		b, err := pgconf.RenderRecoveryConf(plan.Params)
		if err != nil {
			return fmt.Errorf("bootstrap.%s.recovery_conf: %w", m.Name, err)
		}
		if _, err := n.dir.WriteFile(filepath.Join(n.opts.DataDir, "recovery.conf"), b, 0o600); err != nil {
			return err
		}
	}
	if plan.Signal != "" {
		if _, err := n.dir.WriteFile(filepath.Join(n.opts.DataDir, plan.Signal), nil, 0o600); err != nil {
			return err
		}
	}
	recovery := plan.Params
	if n.major < 12 {
		recovery = nil
	}
	include := pgconf.BaseConf
	if n.opts.CustomConf != "" {
		include = n.opts.CustomConf
	}
	// The restored postgresql.conf becomes the included base, as in a takeover.
	_, err := n.dir.WriteConfig(postgres.Config{
		Conf:              pgconf.ConfParams{Include: include, Parameters: merged.Parameters, Major: n.major, Recovery: recovery},
		CustomConf:        n.opts.CustomConf != "",
		KeepRecoveryFiles: true,
	})
	if err != nil {
		return fmt.Errorf("write configuration: %w", err)
	}
	return nil
}

// peerAccess holds pg_hba.conf and pg_ident.conf as they were before the temporary
// peer-only access replaced them.
type peerAccess struct {
	hba, ident []byte
}

// bootstrapIdentMap names the pg_ident.conf map of the temporary access.
const bootstrapIdentMap = "warden_bootstrap"

// peerAccessFiles renders the temporary pg_hba.conf and pg_ident.conf: only the OS user
// the agent runs as, over the unix socket, as the superuser. Patroni opens trust
// instead, also over TCP; peer authentication admits no other local user and no
// network client while the superuser's password is unknown.
func peerAccessFiles(osUser, superuser string) (hba, ident []byte) {
	hba = pgconf.RenderHBA([]string{fmt.Sprintf("local all %s peer map=%s", hbaQuote(superuser), bootstrapIdentMap)})
	ident = pgconf.RenderHBA([]string{fmt.Sprintf("%s %s %s", bootstrapIdentMap, hbaQuote(osUser), hbaQuote(superuser))})
	return hba, ident
}

// hbaQuote double-quotes a name for pg_hba.conf/pg_ident.conf unless it is a plain word.
func hbaQuote(s string) string {
	plain := s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '_' || r == '-' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) < 0
	if plain && s != "all" && !strings.HasPrefix(s, "same") {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

func (n *Node) openPeerAccess() (*peerAccess, error) {
	u, err := user.LookupId(strconv.Itoa(os.Geteuid()))
	if err != nil {
		return nil, fmt.Errorf("custom bootstrap: look up the OS user the agent runs as: %w", err)
	}
	a := &peerAccess{}
	if a.hba, err = os.ReadFile(n.dir.HBAFile()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read pg_hba.conf: %w", err)
	}
	if a.ident, err = os.ReadFile(n.dir.IdentFile()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read pg_ident.conf: %w", err)
	}
	hba, ident := peerAccessFiles(u.Username, n.opts.Superuser.User)
	if _, err := n.dir.WriteFile(n.dir.HBAFile(), hba, 0o600); err != nil {
		return nil, err
	}
	if _, err := n.dir.WriteFile(n.dir.IdentFile(), ident, 0o600); err != nil {
		return nil, err
	}
	n.log.Info("opened temporary peer access over the unix socket to set the superuser's password after the custom bootstrap",
		"os_user", u.Username, "superuser", n.opts.Superuser.User)
	return a, nil
}

// superuserOverSocket waits for the end of recovery and gives the superuser its
// configured password, over the temporary peer access.
func (n *Node) superuserOverSocket(ctx context.Context) error {
	pf, err := postgres.ReadPidFile(n.opts.DataDir)
	if err != nil {
		return err
	}
	if pf.SocketDir == "" {
		return errors.New("custom bootstrap needs a unix socket to set the superuser's password: unix_socket_directories is empty")
	}
	conn, err := postgres.Connect(ctx, postgres.ConnParams{Host: pf.SocketDir, Port: n.opts.Port, User: n.opts.Superuser.User})
	if err != nil {
		return fmt.Errorf("connect over the unix socket with peer authentication: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := n.waitRecoveryEnd(ctx, conn); err != nil {
		return err
	}
	if err := n.ensureSuperuser(ctx, conn); err != nil {
		return err
	}
	return nil
}

// recoveryPoll is how often the end of recovery is checked.
const recoveryPoll = time.Second

// recoveryStall bounds a recovery that replays nothing (e.g. a hanging restore_command).
func (n *Node) recoveryStall() time.Duration { return max(n.opts.PgCtlTimeout, 5*time.Minute) }

// waitRecoveryEnd waits until a restored server leaves recovery. It fails when the
// postmaster exits, when replay pauses at the target (recovery_target_action pause
// would wait for an operator forever) or when replay makes no progress for
// recoveryStall.
func (n *Node) waitRecoveryEnd(ctx context.Context, conn *postgres.Conn) error {
	obs, err := conn.Observe(ctx)
	if err != nil {
		return err
	}
	if !obs.InRecovery {
		return nil
	}
	n.log.Info("waiting for end of recovery after bootstrap", "replayed", cluster.FormatLSN(obs.ReplayedLSN))
	pm := n.running()
	if pm == nil {
		return errors.New("postgres exited during recovery after bootstrap")
	}
	start, progressed, last := time.Now(), time.Now(), obs.ReplayedLSN
	lastLog := time.Now()
	tick := time.NewTicker(recoveryPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for end of recovery after bootstrap: %w", ctx.Err())
		case <-pm.Exited():
			return fmt.Errorf("postgres exited during recovery after bootstrap (%v); see its log", pm.ExitErr())
		case <-tick.C:
		}
		obs, err := conn.Observe(ctx)
		if err != nil {
			return fmt.Errorf("waiting for end of recovery after bootstrap: %w", err)
		}
		switch {
		case !obs.InRecovery:
			n.log.Info("recovery after bootstrap ended", "elapsed", time.Since(start).Round(time.Millisecond))
			return nil
		case obs.ReplayPaused:
			return fmt.Errorf("recovery paused at %s and would wait for an operator: set recovery_target_action: promote in bootstrap.%s.recovery_conf",
				cluster.FormatLSN(obs.ReplayedLSN), n.opts.Custom.Name)
		case obs.ReplayedLSN != last:
			last, progressed = obs.ReplayedLSN, time.Now()
		case time.Since(progressed) > n.recoveryStall():
			return fmt.Errorf("recovery after bootstrap replayed nothing for %s (stuck at %s)", n.recoveryStall(), cluster.FormatLSN(last))
		}
		if time.Since(lastLog) >= 30*time.Second {
			lastLog = time.Now()
			n.log.Info("waiting for end of recovery after bootstrap", "replayed", cluster.FormatLSN(obs.ReplayedLSN))
		}
	}
}

// closePeerAccess writes the configuration for a primary (recovery parameters gone,
// Warden's pg_hba.conf/pg_ident.conf, or the restored ones when Warden manages neither)
// and reloads, ending the temporary access.
func (n *Node) closePeerAccess(ctx context.Context, a *peerAccess) error {
	if _, _, err := n.writeConfig(false, nil); err != nil {
		return err
	}
	hba, ident := n.authLines()
	if hba == nil {
		if _, err := n.dir.WriteFile(n.dir.HBAFile(), a.hba, 0o600); err != nil {
			return err
		}
	}
	if ident == nil {
		if _, err := n.dir.WriteFile(n.dir.IdentFile(), a.ident, 0o600); err != nil {
			return err
		}
	}
	pf, err := postgres.ReadPidFile(n.opts.DataDir)
	if err != nil {
		return err
	}
	conn, err := postgres.Connect(ctx, postgres.ConnParams{Host: pf.SocketDir, Port: n.opts.Port, User: n.opts.Superuser.User})
	if err != nil {
		return fmt.Errorf("connect over the unix socket to reload: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := conn.Reload(ctx); err != nil {
		return err
	}
	n.log.Info("closed the temporary peer access: pg_hba.conf and pg_ident.conf restored, configuration reloaded")
	return nil
}

// reloadSettle bounds the wait for the postmaster to apply a reloaded pg_hba.conf.
const reloadSettle = 10 * time.Second

// connectAfterReload connects with the superuser's password, retrying while the
// postmaster has not yet applied the reloaded pg_hba.conf (pg_reload_conf only signals).
func (n *Node) connectAfterReload(ctx context.Context) (*postgres.Conn, error) {
	deadline := time.Now().Add(reloadSettle)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := n.dedicatedConn(ctx)
		if err == nil || time.Now().After(deadline) {
			return conn, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

// postBootstrapDSN is the key=value connection string post_bootstrap receives, as
// Patroni renders it: the superuser on the local node with its client options
// (sslpassword included), without the password (that is in the pgpass file).
func postBootstrapDSN(p postgres.ConnParams, major int) string {
	return pgconf.PrimaryConnInfo(pgconf.ConnInfo{DBName: "postgres", User: p.User, Host: p.Host, Port: strconv.Itoa(p.Port), ClientSSL: p.SSL}.ForMajor(major))
}

// runPostBootstrap runs bootstrap.post_bootstrap with the superuser's DSN; a failure
// fails the bootstrap.
func (n *Node) runPostBootstrap(ctx context.Context) error {
	script := n.opts.PostBootstrap
	if script == "" {
		return nil
	}
	argv, err := callbacks.Split(script)
	if err != nil {
		return fmt.Errorf("bootstrap.post_bootstrap: %w", err)
	}
	if len(argv) == 0 {
		return errors.New("bootstrap.post_bootstrap is empty")
	}
	p := n.localConnParams()
	entry := pgconf.PgpassEntry{Host: p.Host, Port: strconv.Itoa(p.Port), User: p.User, Password: p.Password}
	if entry.Host == "" {
		// libpq matches "localhost" for a connection through the default socket directory.
		entry.Host = "localhost"
	}
	if _, err := n.dir.WritePgpass(n.opts.PGPass, []pgconf.PgpassEntry{entry}); err != nil {
		return err
	}
	n.log.Info("running post_bootstrap", "script", script)
	start := time.Now()
	code, err := n.runScript(ctx, "post_bootstrap", append(argv, postBootstrapDSN(p, n.major)), 0, nil,
		"PGPASSFILE="+n.opts.PGPass, "PGOPTIONS=-c synchronous_commit=local")
	switch {
	case err != nil:
		n.log.Error(fmt.Sprintf("post_init script %s failed", script), "err", err)
		return fmt.Errorf("post_bootstrap script: %w", err)
	case code != 0:
		n.log.Error(fmt.Sprintf("post_init script %s returned non-zero code %d", script, code))
		return fmt.Errorf("post_bootstrap script exited with code %d", code)
	}
	n.log.Info("post_bootstrap script finished", "elapsed", time.Since(start).Round(time.Millisecond))
	return nil
}
