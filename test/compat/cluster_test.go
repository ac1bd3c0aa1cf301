//go:build compat

package compat

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

const (
	pgBin         = "/usr/lib/postgresql/15/bin"
	superPassword = "compat-super-secret"
	replPassword  = "compat-repl-secret"
	rewindPass    = "compat-rewind-secret"
	// Timings valid for every Patroni version (4.x raises ttl below 20), so no
	// difference comes from timing validation.
	ttl, loopWait, retryTimeout = 20, 2, 5
)

// flavor is one HA agent under test.
type flavor struct {
	name    string   // "patroni-3.0.2", "patroni-4.1", "warden"
	version string   // the Patroni version it is compared as ("3.0.2", "4.1"), "" for Warden
	agent   []string // argv before the configuration file
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

var (
	portMu   sync.Mutex
	portNext = 20000 + (os.Getpid()*7919)%12000
)

// freePort hands out ports from 20000-32000 (below the ephemeral range) nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for range 12000 {
		portNext++
		if portNext >= 32000 {
			portNext = 20000
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(portNext))
		if err == nil {
			_ = l.Close()
			return portNext
		}
	}
	t.Fatal("no free port in 20000-32000")
	return 0
}

// etcdProc is Debian's etcd 3.4, one per harness run; each cluster has its own scope.
type etcdProc struct {
	cmd      *exec.Cmd
	endpoint string
	host     string
	cli      *clientv3.Client
}

func startEtcd(t *testing.T, dir string) *etcdProc {
	t.Helper()
	cp, pp := freePort(t), freePort(t)
	data := filepath.Join(dir, "etcd")
	logf, err := os.Create(data + ".log")
	must(t, err)
	defer logf.Close()
	e := &etcdProc{host: fmt.Sprintf("127.0.0.1:%d", cp)}
	e.endpoint = "http://" + e.host
	peer := fmt.Sprintf("http://127.0.0.1:%d", pp)
	e.cmd = exec.Command("/usr/bin/etcd", "--name", "compat", "--data-dir", data,
		"--listen-client-urls", e.endpoint, "--advertise-client-urls", e.endpoint,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "compat="+peer)
	e.cmd.Stdout, e.cmd.Stderr = logf, logf
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	must(t, e.cmd.Start())
	done := make(chan struct{})
	go func() { _ = e.cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		if e.cli != nil {
			_ = e.cli.Close()
		}
		_ = e.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = e.cmd.Process.Kill()
			<-done
		}
	})
	e.cli, err = clientv3.New(clientv3.Config{Endpoints: []string{e.endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	must(t, err)
	eventually(t, "etcd answers", 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := e.cli.Get(ctx, "/probe")
		return err == nil
	})
	return e
}

// keys returns every key under prefix with its value.
func (e *etcdProc) keys(prefix string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := e.cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, kv := range r.Kvs {
		out[strings.TrimPrefix(string(kv.Key), prefix)] = string(kv.Value)
	}
	return out, nil
}

type node struct {
	name    string
	pgPort  int
	apiPort int
	dir     string
	config  string
	logPath string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func (n *node) dataDir() string { return filepath.Join(n.dir, "data") }
func (n *node) api() string     { return fmt.Sprintf("http://127.0.0.1:%d", n.apiPort) }

type cluster struct {
	t      *testing.T
	flavor flavor
	scope  string
	dir    string
	etcd   *etcdProc
	owner  osUser
	nodes  []*node
	// acted is when the current step's action began.
	acted time.Time
}

// newCluster prepares two nodes, pg-1 and pg-2. Scopes have equal length across flavors so
// that patronictl's table widths match.
func newCluster(t *testing.T, f flavor, root string, etcd *etcdProc, tag string) *cluster {
	t.Helper()
	owner := postgresUser(t)
	c := &cluster{t: t, flavor: f, scope: fmt.Sprintf("c%05d-%s", os.Getpid()%100000, tag), etcd: etcd, owner: owner}
	c.dir = filepath.Join(root, tag)
	mkdirOwned(t, c.dir, 0o755, owner)
	for i := 1; i <= 2; i++ {
		n := &node{name: fmt.Sprintf("pg-%d", i), pgPort: freePort(t), apiPort: freePort(t)}
		n.dir = filepath.Join(c.dir, n.name)
		mkdirOwned(t, n.dir, 0o700, owner)
		n.config = filepath.Join(n.dir, "node.yml")
		n.logPath = filepath.Join(n.dir, "agent.log")
		c.nodes = append(c.nodes, n)
		c.writeConfig(n, "16MB")
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			c.kill(n)
		}
	})
	return c
}

func mkdirOwned(t *testing.T, d string, mode os.FileMode, o osUser) {
	t.Helper()
	must(t, os.MkdirAll(d, mode))
	must(t, os.Chmod(d, mode))
	must(t, os.Chown(d, int(o.uid), int(o.gid)))
}

// writeConfig writes the one YAML every flavor reads; only names, ports and directories differ.
func (c *cluster) writeConfig(n *node, sharedBuffers string) {
	y := fmt.Sprintf(`scope: %s
name: %s
restapi:
  listen: 127.0.0.1:%d
  connect_address: 127.0.0.1:%d
etcd3:
  hosts: %s
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
    shared_buffers: %s
    max_wal_size: 64MB
    min_wal_size: 32MB
`, c.scope, n.name, n.apiPort, n.apiPort, c.etcd.host, ttl, loopWait, retryTimeout,
		n.pgPort, n.pgPort, n.dataDir(), pgBin, n.dir, superPassword, replPassword, rewindPass, n.dir, sharedBuffers)
	must(c.t, os.WriteFile(n.config, []byte(y), 0o600))
	must(c.t, os.Chown(n.config, int(c.owner.uid), int(c.owner.gid)))
}

// start launches the node's agent as the postgres user in its own process group.
func (c *cluster) start(n *node) {
	c.t.Helper()
	f, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	must(c.t, err)
	defer f.Close()
	argv := append(append([]string{}, c.flavor.agent...), n.config)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = n.dir
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + n.dir, "LANG=C.UTF-8", "PYTHONUNBUFFERED=1"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: c.owner.uid, Gid: c.owner.gid}, Setpgid: true}
	must(c.t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	n.mu.Lock()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()
}

// kill stops the agent (SIGKILL to its process group) and its postmaster, by PID.
func (c *cluster) kill(n *node) {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	pm := postmasterPid(n.dataDir())
	if cmd != nil && cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
	}
	if pm == 0 {
		pm = postmasterPid(n.dataDir())
	}
	if pm > 0 && isPostgres(pm) {
		_ = syscall.Kill(-pm, syscall.SIGKILL)
		_ = syscall.Kill(pm, syscall.SIGKILL)
		deadline := time.Now().Add(10 * time.Second)
		for isPostgres(pm) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func postmasterPid(dataDir string) int {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	return pid
}

// isPostgres: pid is a live (not zombie) postgres process.
func isPostgres(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return strings.Contains(s[:max(i, 0)], "(postgres") && i+3 < len(s) && s[i+2] != 'Z'
}

// asPostgres runs a command as the postgres user and returns its combined output.
func (c *cluster) asPostgres(timeout time.Duration, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: c.owner.uid, Gid: c.owner.gid}}
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8"}
	cmd.Dir = c.dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// stopPostgres stops the node's PostgreSQL behind the agent's back (pg_ctl stop -m fast)
// and says how that went.
func (c *cluster) stopPostgres(n *node) string {
	out, err := c.asPostgres(60*time.Second, filepath.Join(pgBin, "pg_ctl"), "-D", n.dataDir(), "stop", "-m", "fast", "-w")
	if err != nil {
		c.t.Logf("%s %s: pg_ctl stop: %v\n%s", c.flavor.name, n.name, err, out)
		return "failed: " + strings.TrimSpace(out)
	}
	return "stopped"
}

// await waits (bounded) for a state the step should reach and records whether it was
// reached: a Warden cluster that does not get there is a difference, a Patroni cluster
// that does not means the scenario is wrong.
func (c *cluster) await(s Snapshot, what string, timeout time.Duration, cond func() bool) bool {
	_, ok := within(time.Now(), timeout, cond)
	s.Add("wait", what, ok)
	if !ok {
		c.t.Logf("%s: %s: not reached within %s", c.flavor.name, what, timeout)
		if c.flavor.version != "" {
			c.t.Fatalf("%s: %s: not reached within %s", c.flavor.name, what, timeout)
		}
	}
	return ok
}

// request sends method to the node's REST API and returns the status and body.
func (n *node) request(method, path, body string) (int, []byte, http.Header) {
	return n.requestWithin(method, path, body, 5*time.Second)
}

// requestWithin is request with a timeout: a synchronous /restart or /switchover answers
// only when done.
func (n *node) requestWithin(method, path, body string, timeout time.Duration) (int, []byte, http.Header) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, n.api()+path, rd)
	if err != nil {
		return 0, nil, nil
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: timeout}).Do(req)
	if err != nil {
		return 0, []byte(err.Error()), nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

func (n *node) code(path string) int {
	c, _, _ := n.request("GET", path, "")
	return c
}

func (n *node) status() map[string]any {
	_, b, _ := n.request("GET", "/patroni", "")
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

func (c *cluster) node(name string) *node {
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	c.t.Fatalf("no node %s", name)
	return nil
}

// dcsValue is the JSON value of one key of the cluster (nil when absent or not JSON).
func (c *cluster) dcsValue(key string) map[string]any {
	kv, err := c.etcd.keys(c.prefix() + key)
	if err != nil {
		return nil
	}
	var m map[string]any
	_ = json.Unmarshal([]byte(kv[""]), &m)
	return m
}

func (c *cluster) prefix() string { return "/service/" + c.scope + "/" }

// streaming: PostgreSQL on primary reports name streaming.
func (c *cluster) streaming(primary, name string) bool {
	_, b, _ := c.node(primary).request("GET", "/patroni", "")
	var m struct {
		Replication []struct {
			Application string `json:"application_name"`
			State       string `json:"state"`
		} `json:"replication"`
	}
	if json.Unmarshal(b, &m) != nil {
		return false
	}
	for _, r := range m.Replication {
		if r.Application == name && r.State == "streaming" {
			return true
		}
	}
	return false
}

func (c *cluster) tailLog(n *node, lines int) string {
	b, _ := os.ReadFile(n.logPath)
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond every 100 ms until it holds or the deadline passes.
func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// within is eventually that reports whether cond held and how long it took since start.
func within(start time.Time, timeout time.Duration, cond func() bool) (time.Duration, bool) {
	for !cond() {
		if time.Since(start) > timeout {
			return time.Since(start), false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start), true
}
