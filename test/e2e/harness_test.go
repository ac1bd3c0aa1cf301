//go:build e2e

// Package e2e runs the real warden binary: three nodes on loopback with real PostgreSQL (15,
// or the bin directory in WARDEN_PG_BIN: make e2e-majors runs the core on 17 and 18) and real etcd (embedded in the test process, or Debian's etcd as an external process),
// and exercises them as a user would. Agents and postmasters run as the postgres OS user;
// every process is stopped by PID in t.Cleanup. The chaos suite runs its nodes and etcd in
// network namespaces instead (netLab, netns_test.go), to cut them apart.
package e2e

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/warden-ha/warden/internal/etcdembed"
)

const (
	superPassword = "e2e-super-secret"
	replPassword  = "e2e-repl-secret"
	rewindPass    = "e2e-rewind-secret"
)

// pgBin is the PostgreSQL under test: WARDEN_PG_BIN (make e2e-majors sets it from
// scripts/install-pg.sh), else the host's PostgreSQL 15.
var pgBin = cmp.Or(os.Getenv("WARDEN_PG_BIN"), "/usr/lib/postgresql/15/bin")

var (
	buildOnce sync.Once
	wardenBin string
	buildErr  error
)

// binary builds the warden binary once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "warden-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			buildErr = err
			return
		}
		wardenBin = filepath.Join(dir, "warden")
		out, err := exec.Command("go", "build", "-o", wardenBin, "../../cmd/warden").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return wardenBin
}

type osUser struct{ uid, gid uint32 }

func postgresUser(t *testing.T) osUser {
	t.Helper()
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Skip("no postgres OS user")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return osUser{uint32(uid), uint32(gid)}
}

// Timings short enough to keep the suite fast, valid by ttl >= loop_wait + 2*retry_timeout.
type timings struct{ ttl, loopWait, retryTimeout, primaryStartTimeout int }

var fast = timings{ttl: 5, loopWait: 1, retryTimeout: 2, primaryStartTimeout: 300}

type node struct {
	name string
	// host is the address the node listens on and is reached at: 127.0.0.1, or its
	// network namespace's address when the cluster runs in a netLab.
	host    string
	ns      string
	pgPort  int
	apiPort int
	dir     string
	config  string
	logPath string

	mu  sync.Mutex
	cmd *exec.Cmd
	log *os.File
}

type testCluster struct {
	t *testing.T
	// section is the DCS section name written to the configs: etcd3, or etcd (which
	// Warden also speaks v3 to).
	section   string
	dir       string
	endpoints []string
	nodes     []*node
	owner     osUser
	scope     string
	// dcsExtra is appended to the DCS section (indented lines, e.g. protocol, cacert,
	// username); env is added to every agent's environment (e.g. PATRONI_* secrets).
	dcsExtra string
	env      []string
	// pgExtra, when set, returns lines appended to a node's postgresql section (indented
	// two spaces, e.g. callbacks).
	pgExtra func(n *node) string
	// bootstrapExtra, when set, returns lines appended to a node's bootstrap section
	// (indented two spaces, e.g. post_bootstrap).
	bootstrapExtra func(n *node) string
	// bootstrapDCS is appended to bootstrap.dcs (lines indented four spaces, e.g.
	// standby_cluster).
	bootstrapDCS string
	// clients is the network pg_hba admits (127.0.0.1/32, or the netLab's subnet); lab,
	// when set, holds the namespaces the nodes run in.
	clients string
	lab     *netLab
}

func freePort(t *testing.T) int {
	t.Helper()
	for range portHigh - portLow {
		p := portLow + int(portCursor.Add(1))%(portHigh-portLow)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err == nil {
			must(t, l.Close())
			return p
		}
	}
	t.Fatalf("no free port in %d-%d", portLow, portHigh)
	return 0
}

// Test ports come from below the kernel's ephemeral range (32768-60999): a node that is
// down for a while must find its port free when it restarts, and an outgoing connection
// of any test could take a port of that range meanwhile. The cursor starts at a place
// that depends on the process, so concurrent test processes rarely meet.
const portLow, portHigh = 20000, 32000

var portCursor = func() *atomic.Int64 {
	c := new(atomic.Int64)
	c.Store(int64(os.Getpid()*7919) % (portHigh - portLow))
	return c
}()

// startEmbeddedEtcd runs a real etcd inside the test process.
func startEmbeddedEtcd(t *testing.T) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := etcdembed.Start(ctx, etcdembed.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("embedded etcd: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv.Endpoints()
}

// newCluster prepares (but does not start) three nodes.
func newCluster(t *testing.T, endpoints []string, tm timings) *testCluster {
	t.Helper()
	owner := postgresUser(t)
	binary(t)
	dir, err := os.MkdirTemp("", "warden-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.Chmod(dir, 0o755))
	must(t, os.Chown(dir, int(owner.uid), int(owner.gid)))
	c := &testCluster{t: t, dir: dir, endpoints: endpoints, owner: owner, scope: "e2e" + strconv.Itoa(os.Getpid()), section: "etcd3", clients: "127.0.0.1/32"}
	for i := 1; i <= 3; i++ {
		n := &node{name: fmt.Sprintf("pg-%d", i), host: "127.0.0.1", pgPort: freePort(t), apiPort: freePort(t)}
		n.dir = filepath.Join(dir, n.name)
		must(t, os.Mkdir(n.dir, 0o700))
		must(t, os.Chown(n.dir, int(owner.uid), int(owner.gid)))
		n.config = filepath.Join(n.dir, "warden.yml")
		n.logPath = filepath.Join(n.dir, "warden.log")
		c.nodes = append(c.nodes, n)
	}
	c.writeConfigs(tm)
	t.Cleanup(func() {
		for _, n := range c.nodes {
			c.kill9(n)
		}
		if t.Failed() {
			for _, n := range c.nodes {
				b, _ := os.ReadFile(n.logPath)
				lines := strings.Split(string(b), "\n")
				if len(lines) > 60 {
					lines = lines[len(lines)-60:]
				}
				t.Logf("---- last lines of %s's log ----\n%s", n.name, strings.Join(lines, "\n"))
			}
			t.Logf("test directory kept: %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return c
}

// writeConfigs (re)writes every node's YAML file.
func (c *testCluster) writeConfigs(tm timings) {
	c.t.Helper()
	for _, n := range c.nodes {
		must(c.t, os.WriteFile(n.config, []byte(c.configFor(n, tm)), 0o600))
		must(c.t, os.Chown(n.config, int(c.owner.uid), int(c.owner.gid)))
	}
}

func (c *testCluster) configFor(n *node, tm timings) string {
	hosts := make([]string, len(c.endpoints))
	for i, e := range c.endpoints {
		hosts[i] = strings.TrimPrefix(e, "http://")
	}
	return fmt.Sprintf(`scope: %s
name: %s
restapi:
  listen: %s:%d
  connect_address: %s:%d
%s:
  hosts: %s
%sbootstrap:
  dcs:
    ttl: %d
    loop_wait: %d
    retry_timeout: %d
    maximum_lag_on_failover: 1048576
    primary_start_timeout: %d
    postgresql:
      use_pg_rewind: true
      use_slots: true
%s  initdb:
  - encoding: UTF8
  - data-checksums
  pg_hba:
  - host replication replicator %s md5
  - host all all %s md5
%spostgresql:
  listen: %s:%d
  connect_address: %s:%d
  data_dir: %s/data
  bin_dir: %s
  pgpass: %s/pgpass
  pg_ctl_timeout: 30
  authentication:
    superuser: {username: postgres, password: %s}
    replication: {username: replicator, password: %s}
    rewind: {username: rewinder, password: %s}
  parameters:
    unix_socket_directories: %s
    shared_buffers: 16MB
    max_wal_size: 64MB
    min_wal_size: 32MB
%s`, c.scope, n.name, n.host, n.apiPort, n.host, n.apiPort, c.section, strings.Join(hosts, ","), c.dcsExtra, tm.ttl, tm.loopWait, tm.retryTimeout, tm.primaryStartTimeout,
		c.bootstrapDCS, c.clients, c.clients, c.bootstrapExtraFor(n), n.host, n.pgPort, n.host, n.pgPort, n.dir, pgBin, n.dir, superPassword, replPassword, rewindPass, n.dir, c.pgExtraFor(n))
}

func (c *testCluster) bootstrapExtraFor(n *node) string {
	if c.bootstrapExtra == nil {
		return ""
	}
	return c.bootstrapExtra(n)
}

func (c *testCluster) pgExtraFor(n *node) string {
	if c.pgExtra == nil {
		return ""
	}
	return c.pgExtra(n)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// start launches the agent as the postgres user.
func (c *testCluster) start(n *node) {
	c.t.Helper()
	f, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	must(c.t, err)
	cmd := exec.Command(wardenBin, n.config)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: c.owner.uid, Gid: c.owner.gid}, Setpgid: true}
	if n.ns != "" {
		// ip and setpriv exec in place: the PID is the agent's.
		cmd = c.lab.command(n.ns, "setpriv", fmt.Sprintf("--reuid=%d", c.owner.uid), fmt.Sprintf("--regid=%d", c.owner.gid), "--clear-groups", "--", wardenBin, n.config)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	cmd.Dir = n.dir
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + n.dir, "LANG=C"}, c.env...)
	must(c.t, cmd.Start())
	n.mu.Lock()
	n.cmd, n.log = cmd, f
	n.mu.Unlock()
	go func() { _ = cmd.Wait() }()
}

func (n *node) agentPid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.cmd.Process == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// postmasterPid reads postmaster.pid; 0 when absent.
func (n *node) postmasterPid() int {
	b, err := os.ReadFile(filepath.Join(n.dir, "data", "postmaster.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	return pid
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// A zombie (state Z) is dead even though its PID answers signals.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

// kill9 kills the agent and its postmaster (with the postmaster's children).
func (c *testCluster) kill9(n *node) {
	pm := n.postmasterPid()
	if pid := n.agentPid(); alive(pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if alive(pm) {
		_ = syscall.Kill(-pm, syscall.SIGKILL)
		_ = syscall.Kill(pm, syscall.SIGKILL)
	}
	c.waitGone(n, pm)
}

func (c *testCluster) waitGone(n *node, pm int) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if !alive(n.agentPid()) && !alive(pm) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.mu.Lock()
	if n.log != nil {
		n.log.Close()
		n.log = nil
	}
	n.mu.Unlock()
}

// stop sends SIGTERM to the agent and waits until it and its postmaster are gone.
func (c *testCluster) stop(n *node) {
	c.t.Helper()
	pm := n.postmasterPid()
	pid := n.agentPid()
	if !alive(pid) {
		return
	}
	must(c.t, syscall.Kill(pid, syscall.SIGTERM))
	deadline := time.Now().Add(60 * time.Second)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(pid) {
		c.t.Fatalf("%s: agent did not exit within 60s of SIGTERM", n.name)
	}
	c.waitGone(n, pm)
}

var httpClient = &http.Client{Timeout: 2 * time.Second}

func (n *node) health(path string) int {
	resp, err := httpClient.Get(fmt.Sprintf("http://%s:%d%s", n.host, n.apiPort, path))
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func (n *node) status() map[string]any {
	resp, err := httpClient.Get(fmt.Sprintf("http://%s:%d/patroni", n.host, n.apiPort))
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return m
}

// eventually polls cond every 50ms until it holds or the timeout passes.
func (c *testCluster) eventually(what string, timeout time.Duration, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// primary returns the single node answering 200 on /primary, or nil.
func (c *testCluster) primary() *node { return c.onlyOne("/primary", "primaries") }

// onlyOne returns the single node answering 200 on the health check path, or nil; two
// such nodes fail the test.
func (c *testCluster) onlyOne(path, plural string) *node {
	var found *node
	for _, n := range c.nodes {
		if n.health(path) == 200 {
			if found != nil {
				c.t.Fatalf("two %s: %s and %s", plural, found.name, n.name)
			}
			found = n
		}
	}
	return found
}

func (c *testCluster) waitPrimary(timeout time.Duration) *node {
	c.t.Helper()
	var p *node
	c.eventually("a primary", timeout, func() bool { p = c.primary(); return p != nil })
	return p
}

func (c *testCluster) waitReplica(n *node, timeout time.Duration) {
	c.t.Helper()
	c.eventually(n.name+" to be a streaming replica", timeout, func() bool {
		st := n.status()
		return n.health("/replica") == 200 && st != nil && st["replication_state"] == "streaming"
	})
}

func connect(ctx context.Context, n *node) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres connect_timeout=1", n.host, n.pgPort))
	if err != nil {
		return nil, err
	}
	cfg.Password = superPassword
	return pgx.ConnectConfig(ctx, cfg)
}

func (c *testCluster) exec(n *node, sql string, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := connect(ctx, n)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

func (c *testCluster) queryInt(n *node, sql string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := connect(ctx, n)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var v int64
	err = conn.QueryRow(ctx, sql).Scan(&v)
	return v, err
}

// writeOnce tries one INSERT on every node and reports whether any accepted it: the
// client view of "writes succeed".
func (c *testCluster) writeOnce(id int) (*node, bool) {
	for _, n := range c.nodes {
		if err := c.exec(n, "INSERT INTO e2e_rows (id) VALUES ($1)", id); err == nil {
			return n, true
		}
	}
	return nil, false
}

// timeToWrite polls writes every 20ms until one succeeds and returns the elapsed time
// since from.
func (c *testCluster) timeToWrite(from time.Time, id int, timeout time.Duration) (*node, time.Duration) {
	c.t.Helper()
	for time.Since(from) < timeout {
		if n, ok := c.writeOnce(id); ok {
			return n, time.Since(from)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("no write succeeded within %s", timeout)
	return nil, 0
}

func (c *testCluster) others(p *node) []*node {
	var out []*node
	for _, n := range c.nodes {
		if n != p {
			out = append(out, n)
		}
	}
	return out
}

func (c *testCluster) logContains(n *node, s string) bool {
	b, _ := os.ReadFile(n.logPath)
	return strings.Contains(string(b), s)
}

// killGroup SIGKILLs a postmaster and its backends (its own process group).
func killGroup(pm int) error {
	if pm <= 0 {
		return fmt.Errorf("no postmaster pid")
	}
	groupErr := syscall.Kill(-pm, syscall.SIGKILL)
	// The group kill may already have ended the postmaster and its parent reaped it.
	if err := syscall.Kill(pm, syscall.SIGKILL); err != nil && groupErr != nil {
		return err
	}
	return nil
}

func getBody(n *node, path string) string {
	resp, err := httpClient.Get(fmt.Sprintf("http://%s:%d%s", n.host, n.apiPort, path))
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// switchover asks p to hand over to target. Right after a clone the candidate may still be
// replaying the segments the backups switched, beyond maximum_lag_on_failover: the leader
// answers 503 then, and a user would retry; so does this, for up to 30 s.
func (c *testCluster) switchover(p, target *node) {
	c.t.Helper()
	var code int
	var msg string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		code, msg = c.api(p, "POST", "/switchover", map[string]any{"leader": p.name, "candidate": target.name})
		if code != http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
	}
	if code != 200 {
		c.t.Fatalf("switchover %s -> %s: %d %q", p.name, target.name, code, msg)
	}
}
