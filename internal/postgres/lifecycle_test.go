package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/warden-ha/warden/internal/postgres/pgconf"
)

const pgBin = "/usr/lib/postgresql/15/bin"

// env is one test's PostgreSQL sandbox: a directory the postgres user owns
// and the credential to run as when the test runs as root.
type env struct {
	t     *testing.T
	dir   string
	cred  *syscall.Credential
	log   *slog.Logger
	tools Tools
}

func newEnv(t *testing.T) *env {
	t.Helper()
	if _, err := os.Stat(filepath.Join(pgBin, "postgres")); err != nil {
		t.Skip("PostgreSQL 15 binaries not installed")
	}
	root := t.TempDir()
	e := &env{t: t, log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	e.dir = filepath.Join(root, "pg")
	if err := os.Mkdir(e.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		e.cred = &syscall.Credential{Uid: 101, Gid: 104}
		for _, d := range []string{filepath.Dir(root), root} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chown(e.dir, 101, 104); err != nil {
			t.Fatal(err)
		}
	}
	e.tools = Tools{Runner: ExecRunner{Log: e.log, Credential: e.cred}, BinDir: pgBin,
		PassFile: filepath.Join(e.dir, "pgpass"), Owner: e.cred}
	return e
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// node is one data directory with its port.
type node struct {
	name string
	data DataDir
	port int
}

func (e *env) node(name string) node {
	return node{name: name, data: DataDir{Path: filepath.Join(e.dir, name), Owner: e.cred}, port: freePort(e.t)}
}

func (e *env) writeConfig(n node, standby bool, upstreamPort int) {
	e.t.Helper()
	e.writeConfigWith(n, standby, upstreamPort, nil)
}

// writeConfigWith is writeConfig with extra parameters for postgresql.conf.
func (e *env) writeConfigWith(n node, standby bool, upstreamPort int, extra map[string]string) {
	e.t.Helper()
	params := map[string]string{"unix_socket_directories": e.dir, "logging_collector": "off"}
	for k, v := range extra {
		params[k] = v
	}
	m := pgconf.Merge(nil, params,
		pgconf.ServerInputs{ListenAddresses: "127.0.0.1", Port: n.port, ClusterName: "test", Major: 15})
	c := Config{
		Conf: pgconf.ConfParams{Include: pgconf.BaseConf, Parameters: m.Parameters, Major: 15},
		HBA: []string{
			"local all all trust",
			"host all all 127.0.0.1/32 scram-sha-256",
			"host replication replicator 127.0.0.1/32 scram-sha-256",
		},
		Standby: standby,
	}
	if standby {
		ci := pgconf.PrimaryConnInfo(pgconf.ReplicaConnInfo(pgconf.ConnInfo{User: "replicator", PassFile: e.tools.PassFile,
			Host: "127.0.0.1", Port: fmt.Sprint(upstreamPort)}, n.name, 15))
		c.Conf.Recovery = pgconf.ReplicaRecovery(ci, "replica1", 15, nil)
	}
	if _, err := n.data.WriteConfig(c); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) start(ctx context.Context, n node) *Postmaster {
	e.t.Helper()
	m := pgconf.Merge(nil, nil, pgconf.ServerInputs{ListenAddresses: "127.0.0.1", Port: n.port, ClusterName: "test", Major: 15})
	p, err := Start(ctx, StartOptions{BinDir: pgBin, DataDir: n.data.Path, ConfigFile: n.data.ConfFile(),
		Options:         pgconf.CommandLineOptions(m.Parameters, 15),
		ReadyConnString: fmt.Sprintf("host=127.0.0.1 port=%d user=postgres password=superpw dbname=postgres sslmode=disable", n.port),
		Credential:      e.cred, Log: e.log.With("node", n.name)})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { killGroup(p.Pid()) })
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := p.WaitReady(wctx); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// primary initialises node "a" (initdb with opts) with the extra parameters and starts
// it as a primary.
func (e *env) primary(ctx context.Context, extra map[string]string, opts ...string) (*Postmaster, *Conn) {
	e.t.Helper()
	a := e.node("a")
	if err := e.tools.InitDB(ctx, a.data.Path, "postgres", "superpw", opts); err != nil {
		e.t.Fatal(err)
	}
	e.writeConfigWith(a, false, 0, extra)
	p := e.start(ctx, a)
	return p, e.connect(ctx, a)
}

func killGroup(pid int) {
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

func (e *env) connect(ctx context.Context, n node) *Conn {
	e.t.Helper()
	c, err := Connect(ctx, ConnParams{Host: "127.0.0.1", Port: n.port, User: "postgres", Password: "superpw"})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// eventually polls cond on a short ticker until it holds or the deadline passes.
func eventually(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func waitGroupGone(t *testing.T, pid int) {
	eventually(t, "process group to exit", 10*time.Second, func() bool {
		return errors.Is(syscall.Kill(-pid, 0), syscall.ESRCH)
	})
}

func TestLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e := newEnv(t)
	a, b := e.node("a"), e.node("b")

	// initdb and first start as primary.
	if err := e.tools.InitDB(ctx, a.data.Path, "postgres", "superpw", []string{"--auth-local=trust", "--auth-host=scram-sha-256"}); err != nil {
		t.Fatal(err)
	}
	e.writeConfig(a, false, 0)
	if _, err := os.Stat(filepath.Join(a.data.Path, pgconf.BaseConf)); err != nil {
		t.Fatalf("original postgresql.conf not preserved: %v", err)
	}
	pa := e.start(ctx, a)
	ca := e.connect(ctx, a)
	obs, err := ca.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if obs.InRecovery || obs.Timeline != 1 || obs.CurrentLSN == 0 || obs.ServerVersion/10000 != 15 {
		t.Fatalf("primary observation %+v", obs)
	}

	// The pid file names our child; adopting it gives a second watcher.
	if pid, ok := FindRunning(a.data.Path); !ok || pid != pa.Pid() {
		t.Fatalf("FindRunning = %d %v, want %d", pid, ok, pa.Pid())
	}
	adopted, err := Adopt(pa.Pid(), StartOptions{DataDir: a.data.Path, Log: e.log})
	if err != nil {
		t.Fatal(err)
	}

	// kill -9 is seen at once by both the child watcher and the pidfd watcher.
	ca.Close(ctx)
	killed := time.Now()
	if err := syscall.Kill(pa.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*Postmaster{pa, adopted} {
		select {
		case <-p.Exited():
		case <-time.After(100*time.Millisecond - time.Since(killed)):
			t.Fatalf("exit of pid %d (adopted=%v) not seen within 100ms", p.Pid(), p.Adopted())
		}
	}
	if pa.ExitErr() == nil {
		t.Fatal("no exit status for a killed child")
	}
	killGroup(pa.Pid()) // orphaned backends would hold the shared memory
	waitGroupGone(t, pa.Pid())
	if _, ok := FindRunning(a.data.Path); ok {
		t.Fatal("dead postmaster reported running")
	}

	// Restart over the stale postmaster.pid.
	pa = e.start(ctx, a)
	ca = e.connect(ctx, a)
	if err := ca.EnsureRole(ctx, "replicator", "repl pw'\\", []string{"REPLICATION", "LOGIN"}); err != nil {
		t.Fatal(err)
	}
	if err := ca.EnsureRole(ctx, "replicator", "repl pw'\\", []string{"REPLICATION", "LOGIN"}); err != nil {
		t.Fatalf("alter existing role: %v", err)
	}
	if created, err := ca.CreatePhysicalSlot(ctx, "replica1"); err != nil || !created {
		t.Fatalf("create slot: %v %v", created, err)
	}
	if created, err := ca.CreatePhysicalSlot(ctx, "replica1"); err != nil || created {
		t.Fatalf("second create slot: %v %v", created, err)
	}
	if _, err := a.data.WritePgpass(e.tools.PassFile, []pgconf.PgpassEntry{
		{Host: "127.0.0.1", User: "replicator", Password: "repl pw'\\"},
		{Host: "127.0.0.1", User: "postgres", Password: "superpw"},
	}); err != nil {
		t.Fatal(err)
	}

	// Clone b (compressed on the server, as basebackup: {compress: server-gzip} allows) and
	// start it as a streaming replica.
	if err := e.tools.BaseBackup(ctx, b.data.Path, fmt.Sprintf("host=127.0.0.1 port=%d user=replicator", a.port), nil, []string{"--checkpoint=fast", "--compress=server-gzip"}); err != nil {
		t.Fatal(err)
	}
	e.writeConfig(b, true, a.port)
	pb := e.start(ctx, b)
	cb := e.connect(ctx, b)
	eventually(t, "replica streaming", 30*time.Second, func() bool {
		o, err := cb.Observe(ctx)
		return err == nil && o.InRecovery && o.ReceivedLSN > 0 && o.ReceiverStatus == "streaming" && o.ReceiverSlot == "replica1" && o.Timeline == 1
	})
	eventually(t, "walsender on primary", 10*time.Second, func() bool {
		rows, err := ca.Replication(ctx)
		return err == nil && len(rows) == 1 && rows[0].ApplicationName == "b" && rows[0].User == "replicator"
	})

	// Promote b; a keeps writing on timeline 1 and so diverges.
	if err := e.tools.Promote(ctx, b.data.Path); err != nil {
		t.Fatal(err)
	}
	if obs, err := cb.Observe(ctx); err != nil || obs.InRecovery {
		t.Fatalf("after promote: %+v %v", obs, err)
	}
	if err := cb.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.c.Exec(ctx, "CREATE TABLE diverge AS SELECT generate_series(1, 1000) AS i"); err != nil {
		t.Fatal(err)
	}
	ca.Close(ctx)
	stopCtx, stopCancel := context.WithTimeout(ctx, 30*time.Second)
	defer stopCancel()
	if err := pa.Stop(stopCtx, StopFast); err != nil {
		t.Fatal(err)
	}

	// The divergence check says rewind.
	cd, err := e.tools.ControlData(ctx, a.data.Path)
	if err != nil {
		t.Fatal(err)
	}
	if cd.State != pgconf.StateShutDown || !cd.WALLogHints {
		t.Fatalf("old primary control data %+v", cd)
	}
	tli, err := cb.Timeline(ctx)
	if err != nil || tli != 2 {
		t.Fatalf("new primary timeline %d %v", tli, err)
	}
	raw, err := cb.ReadTimelineHistory(ctx, tli)
	if err != nil {
		t.Fatal(err)
	}
	hist, err := pgconf.ParseHistory(raw)
	if err != nil || len(hist) != 1 || hist[0].ParentTimeline != 1 {
		t.Fatalf("history %+v %v", hist, err)
	}
	if !pgconf.NeedsRewind(cd.Position(), tli, hist) {
		t.Fatalf("NeedsRewind false for %+v vs %+v", cd.Position(), hist)
	}

	// Rewind a from b and follow b on the new timeline.
	if err := e.tools.Rewind(ctx, a.data.Path, fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres", b.port), nil, nil); err != nil {
		t.Fatal(err)
	}
	e.writeConfig(a, true, b.port)
	// pg_rewind copied b's slots dir; a follows b through the slot b kept.
	if _, err := cb.CreatePhysicalSlot(ctx, "replica1"); err != nil {
		t.Fatal(err)
	}
	pa = e.start(ctx, a)
	ca = e.connect(ctx, a)
	eventually(t, "rewound node streaming on timeline 2", 30*time.Second, func() bool {
		o, err := ca.Observe(ctx)
		return err == nil && o.InRecovery && o.Timeline == 2 && o.ReceiverStatus == "streaming"
	})

	// Stop through an adopted handle: the pidfd watcher sees the exit.
	ca.Close(ctx)
	pid, ok := FindRunning(a.data.Path)
	if !ok {
		t.Fatal("rewound postmaster not found")
	}
	adopted, err = Adopt(pid, StartOptions{DataDir: a.data.Path, Log: e.log})
	if err != nil {
		t.Fatal(err)
	}
	if err := adopted.Stop(stopCtx, StopFast); err != nil {
		t.Fatal(err)
	}
	<-pa.Exited()
	_ = pb
}

func TestStopEscalatesToSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e := newEnv(t)
	p, c := e.primary(ctx, nil)
	// A smart shutdown waits for this session forever; the deadline must kill.
	_ = c
	stopCtx, stopCancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer stopCancel()
	err := p.Stop(stopCtx, StopSmart)
	if err != nil {
		t.Fatalf("Stop = %v, want the postmaster killed after the deadline and no error", err)
	}
	select {
	case <-p.Exited():
	default:
		t.Fatal("not exited after Stop")
	}
	waitGroupGone(t, p.Pid())
}

// TestEnsureRoleKeepsPasswordOutOfStatistics: as Patroni 4.0.3 does, the session creating a
// role turns off what would record its statement (pg_stat_statements' utility tracking,
// pgaudit, statement logging), so the password is not kept in pg_stat_statements.
func TestEnsureRoleKeepsPasswordOutOfStatistics(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real PostgreSQL")
	}
	if _, err := os.Stat(filepath.Join(pgBin, "..", "lib", "pg_stat_statements.so")); err != nil {
		t.Skip("pg_stat_statements not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e := newEnv(t)
	_, c := e.primary(ctx, map[string]string{"shared_preload_libraries": "pg_stat_statements", "pg_stat_statements.track_utility": "on"})
	if err := c.EnsureRole(ctx, "app", "pw-in-stats", []string{"LOGIN"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.c.Exec(ctx, "CREATE EXTENSION pg_stat_statements"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := c.c.QueryRow(ctx, "SELECT count(*) FROM pg_stat_statements WHERE query LIKE '%pw-in-stats%'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("the role's password is in pg_stat_statements (%d statements)", n)
	}
}

// A cluster created with group access (initdb -g) starts with the files Warden writes
// (0640) and keeps its 0750 data directory.
func TestGroupAccessCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e := newEnv(t)
	e.primary(ctx, nil, "--allow-group-access")
	data := e.node("a").data
	if err := data.EnsureMode(); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{data.Path: 0o750, data.ConfFile(): 0o640, data.HBAFile(): 0o640} {
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want %o", path, st.Mode().Perm(), err, want)
		}
	}
}
