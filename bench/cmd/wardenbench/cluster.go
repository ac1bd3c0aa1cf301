package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgBin is the PostgreSQL both sides run: WARDEN_PG_BIN (scripts/install-pg.sh 17 prints
// one), else the host's 15.
var pgBin = cmp.Or(os.Getenv("WARDEN_PG_BIN"), "/usr/lib/postgresql/15/bin")

const (
	superPassword = "bench-super-secret"
	replPassword  = "bench-repl-secret"
	rewindPass    = "bench-rewind-secret"
	pgUID, pgGID  = 101, 104
)

// settings are the DCS timings both tools read from the same YAML.
type settings struct {
	Name         string `json:"name"`
	TTL          int    `json:"ttl"`
	LoopWait     int    `json:"loop_wait"`
	RetryTimeout int    `json:"retry_timeout"`
}

// tool is one HA manager under test.
type tool struct {
	Name    string   // "warden" or "patroni"
	Command []string // argv before the config path
}

type node struct {
	name    string
	pgPort  int
	apiPort int
	dir     string
	config  string
	logPath string

	mu  sync.Mutex
	cmd *exec.Cmd
}

func (n *node) dataDir() string { return filepath.Join(n.dir, "data") }

type cluster struct {
	tool  tool
	set   settings
	scope string
	dir   string
	etcd  *etcdProc
	nodes []*node
}

func newCluster(t tool, set settings, root, scope string, etcd *etcdProc) (*cluster, error) {
	c := &cluster{tool: t, set: set, scope: scope, dir: filepath.Join(root, scope), etcd: etcd}
	if err := mkdirOwned(c.dir, 0o755); err != nil {
		return nil, err
	}
	for i := 1; i <= 3; i++ {
		n := &node{name: fmt.Sprintf("pg-%d", i), pgPort: freePort(), apiPort: freePort()}
		n.dir = filepath.Join(c.dir, n.name)
		if err := mkdirOwned(n.dir, 0o700); err != nil {
			return nil, err
		}
		n.config = filepath.Join(n.dir, "node.yml")
		n.logPath = filepath.Join(n.dir, "agent.log")
		if err := os.WriteFile(n.config, []byte(c.configFor(n)), 0o600); err != nil {
			return nil, err
		}
		if err := os.Chown(n.config, pgUID, pgGID); err != nil {
			return nil, err
		}
		reg.dataDir(n.dataDir())
		c.nodes = append(c.nodes, n)
	}
	return c, nil
}

func mkdirOwned(d string, mode os.FileMode) error {
	if err := os.MkdirAll(d, mode); err != nil {
		return err
	}
	if err := os.Chmod(d, mode); err != nil {
		return err
	}
	return os.Chown(d, pgUID, pgGID)
}

// configFor is the one YAML both tools read (Patroni's format).
func (c *cluster) configFor(n *node) string {
	return fmt.Sprintf(`scope: %s
name: %s
restapi:
  listen: 127.0.0.1:%d
  connect_address: 127.0.0.1:%d
etcd3:
  hosts: 127.0.0.1:%d
bootstrap:
  dcs:
    ttl: %d
    loop_wait: %d
    retry_timeout: %d
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_log_hints: 'on'
  initdb:
  - encoding: UTF8
  - data-checksums
  pg_hba:
  - host replication replicator 127.0.0.1/32 md5
  - host all all 127.0.0.1/32 md5
postgresql:
  listen: 127.0.0.1:%d
  connect_address: 127.0.0.1:%d
  data_dir: %s
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
`, c.scope, n.name, n.apiPort, n.apiPort, c.etcd.clientPort, c.set.TTL, c.set.LoopWait, c.set.RetryTimeout,
		n.pgPort, n.pgPort, n.dataDir(), pgBin, n.dir, superPassword, replPassword, rewindPass, n.dir)
}

// start launches the node's agent as the postgres user in its own process group.
func (c *cluster) start(n *node) error {
	f, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(f, "---- bench: starting %s at %s ----\n", c.tool.Name, time.Now().Format(time.RFC3339Nano))
	argv := append(append([]string{}, c.tool.Command...), n.config)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = n.dir
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + n.dir, "LANG=C.UTF-8", "PYTHONUNBUFFERED=1"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: pgUID, Gid: pgGID}, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s %s: %w", c.tool.Name, n.name, err)
	}
	reg.add(cmd.Process.Pid, c.tool.Name+" "+n.name)
	n.mu.Lock()
	n.cmd = cmd
	n.mu.Unlock()
	go func() { _ = cmd.Wait() }()
	return nil
}

func (c *cluster) startAll() error {
	for _, n := range c.nodes {
		if err := c.start(n); err != nil {
			return err
		}
	}
	return nil
}

func (n *node) agentPid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.cmd.Process == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// postmasterPid is the live postgres process named in postmaster.pid, or 0.
func (n *node) postmasterPid() int {
	pm := pidFile(n.dataDir())
	if st, ok := procStat(pm); ok && st.state != "Z" && st.comm == "postgres" {
		return pm
	}
	return 0
}

// kill9 kills the agent and its postmaster with the postmaster's backends.
func (c *cluster) kill9(n *node) {
	pm := n.postmasterPid()
	if pid := n.agentPid(); alive(pid) {
		_ = syscall.Kill(pid, syscall.SIGCONT)
		_ = syscall.Kill(pid, syscall.SIGKILL)
		waitDead(pid, 10*time.Second)
	}
	if pm == 0 {
		pm = n.postmasterPid()
	}
	killPostmaster(pm)
	waitDead(pm, 10*time.Second)
}

func (c *cluster) destroy() {
	for _, n := range c.nodes {
		c.kill9(n)
	}
	_ = os.RemoveAll(c.dir)
}

var httpc = &http.Client{Timeout: 2 * time.Second}

func (n *node) health(path string) int {
	resp, err := httpc.Get(fmt.Sprintf("http://127.0.0.1:%d%s", n.apiPort, path))
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func (n *node) post(path, body string, timeout time.Duration) (int, string, error) {
	cl := &http.Client{Timeout: timeout}
	resp, err := cl.Post(fmt.Sprintf("http://127.0.0.1:%d%s", n.apiPort, path), "application/json", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b)), nil
}

func connect(ctx context.Context, port int) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres connect_timeout=1", port))
	if err != nil {
		return nil, err
	}
	cfg.Password = superPassword
	return pgx.ConnectConfig(ctx, cfg)
}

// streaming lists the application names streaming from the PostgreSQL on port.
func streaming(ctx context.Context, port int) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := connect(ctx, port)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'")
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// primary is the single node answering 200 on /primary (nil when none or several).
func (c *cluster) primary() *node {
	var found *node
	for _, n := range c.nodes {
		if n.health("/primary") == 200 {
			if found != nil {
				return nil
			}
			found = n
		}
	}
	return found
}

// healthy: one primary (REST) with the two other nodes streaming from it.
func (c *cluster) healthy(ctx context.Context) *node {
	p := c.primary()
	if p == nil {
		return nil
	}
	names, err := streaming(ctx, p.pgPort)
	if err != nil {
		return nil
	}
	// By member name: a replica's pg_basebackup -X stream streams too, as "pg_basebackup".
	members := 0
	for _, n := range c.others(p) {
		if slices.Contains(names, n.name) {
			members++
		}
	}
	if members < len(c.nodes)-1 {
		return nil
	}
	return p
}

// waitHealthy polls every 50 ms; nil after the timeout.
func (c *cluster) waitHealthy(ctx context.Context, timeout time.Duration) *node {
	deadline := time.Now().Add(timeout)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		if p := c.healthy(ctx); p != nil {
			return p
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// waitStreaming waits until n streams from the current primary; the elapsed time or -1.
func (c *cluster) waitStreaming(ctx context.Context, n *node, since time.Time, timeout time.Duration) float64 {
	deadline := since.Add(timeout)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		if p := c.primary(); p != nil && p != n {
			if names, err := streaming(ctx, p.pgPort); err == nil {
				for _, a := range names {
					if a == n.name {
						return time.Since(since).Seconds()
					}
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return -1
}

func (c *cluster) others(p *node) []*node {
	var out []*node
	for _, n := range c.nodes {
		if n != p {
			out = append(out, n)
		}
	}
	return out
}

func (c *cluster) execSQL(ctx context.Context, n *node, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := connect(ctx, n.pgPort)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// tailLog returns the last lines of a node's agent log.
func (n *node) tailLog(lines int) string {
	b, _ := os.ReadFile(n.logPath)
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}
