//go:build e2e

package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startDebianEtcd runs Debian's etcd as an external process on free loopback ports.
func startDebianEtcd(t *testing.T) []string {
	endpoints, _ := startDebianEtcdProcess(t)
	return endpoints
}

// startDebianEtcdProcess also returns the etcd process ID, for freezing it.
func startDebianEtcdProcess(t *testing.T) ([]string, int) {
	t.Helper()
	e := runDebianEtcd(t, "127.0.0.1", freePort(t), freePort(t), exec.Command)
	return e.endpoints, e.pid()
}

// etcdProcess is Debian's etcd run by a test: one member whose data directory outlives
// the process, so it can be killed and started again.
type etcdProcess struct {
	t         *testing.T
	host      string
	client    int
	endpoints []string
	newCmd    func() *exec.Cmd
	logf      *os.File

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// runDebianEtcd starts Debian's etcd listening on host, through command (exec.Command, or
// a netLab's command in a namespace, which must keep the PID).
func runDebianEtcd(t *testing.T, host string, client, peer int, command func(string, ...string) *exec.Cmd) *etcdProcess {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Skip("Debian's etcd-server is not installed (apt-get install etcd-server)")
	}
	dir := t.TempDir()
	clientURL := fmt.Sprintf("http://%s:%d", host, client)
	peerURL := fmt.Sprintf("http://%s:%d", host, peer)
	logf, err := os.Create(filepath.Join(dir, "etcd.log"))
	must(t, err)
	e := &etcdProcess{t: t, host: host, client: client, endpoints: []string{clientURL}, logf: logf}
	e.newCmd = func() *exec.Cmd {
		cmd := command(bin, "--name", "e2e", "--data-dir", filepath.Join(dir, "data"),
			"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
			"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
			"--initial-cluster", "e2e="+peerURL)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		return cmd
	}
	t.Cleanup(func() {
		e.kill()
		logf.Close()
	})
	e.start()
	return e
}

// start runs etcd and waits until it listens.
func (e *etcdProcess) start() {
	t := e.t
	cmd := e.newCmd()
	must(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	e.mu.Lock()
	e.cmd, e.done = cmd, done
	e.mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(e.host, strconv.Itoa(e.client)), 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("external etcd did not listen within 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *etcdProcess) pid() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cmd.Process.Pid
}

// kill stops the running etcd with SIGKILL (continuing it first if it is frozen) and
// waits for it to exit.
func (e *etcdProcess) kill() {
	e.mu.Lock()
	cmd, done := e.cmd, e.done
	e.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(cmd.Process.Pid, syscall.SIGCONT)
	_ = cmd.Process.Kill()
	<-done
}

// TestExternalEtcd runs a cluster against Debian's etcd 3.4 written as Patroni users
// write it (an `etcd:` section), kills the primary, and reads the cluster with the real
// patronictl.
func TestExternalEtcd(t *testing.T) {
	c := newCluster(t, startDebianEtcd(t), fast)
	c.section = "etcd"
	c.writeConfigs(fast)
	for _, n := range c.nodes {
		c.start(n)
	}
	p := c.waitPrimary(60 * time.Second)
	for _, n := range c.others(p) {
		c.waitReplica(n, 60*time.Second)
	}
	if !c.logContains(p, "the etcd: section is served over the etcd v3 API") {
		t.Error("no note that etcd: is spoken to over v3")
	}
	must(t, c.exec(p, "CREATE TABLE e2e_rows (id int PRIMARY KEY)"))

	list := c.patronictl("list")
	for _, n := range c.nodes {
		if !strings.Contains(list, n.name) {
			t.Errorf("patronictl list does not show %s:\n%s", n.name, list)
		}
	}
	if !strings.Contains(list, "Leader") || strings.Count(list, "Replica") != 2 {
		t.Errorf("patronictl list does not show one leader and two replicas:\n%s", list)
	}

	killed := time.Now()
	c.kill9(p)
	w, took := c.timeToWrite(killed, 1, 60*time.Second)
	t.Logf("measured: kill -9 of primary agent+postmaster -> first write on %s after %.2fs with external etcd (ttl=%d loop_wait=%d retry_timeout=%d)",
		w.name, took.Seconds(), fast.ttl, fast.loopWait, fast.retryTimeout)
	c.start(p)
	c.waitReplica(p, 90*time.Second)
	hist := c.patronictl("history")
	if !strings.Contains(hist, w.name) {
		t.Errorf("patronictl history does not record the promotion of %s:\n%s", w.name, hist)
	}
}

// patronictl runs Debian's patronictl against the cluster; the test is skipped without it.
func (c *testCluster) patronictl(args ...string) string {
	c.t.Helper()
	return c.patronictlOf("patronictl", args...)
}

// patronictlOf runs the given patronictl against the cluster (skipping the test when it
// is not installed).
func (c *testCluster) patronictlOf(patronictl string, args ...string) string {
	c.t.Helper()
	bin, err := exec.LookPath(patronictl)
	if err != nil {
		if patronictl == patronictl4 {
			needPatroni4(c.t)
		}
		c.t.Skipf("%s is not installed (apt-get install patroni)", patronictl)
	}
	cfg := filepath.Join(c.dir, "patronictl.yml")
	hosts := make([]string, len(c.endpoints))
	for i, e := range c.endpoints {
		hosts[i] = strings.TrimPrefix(e, "http://")
	}
	must(c.t, os.WriteFile(cfg, []byte(fmt.Sprintf("scope: %s\netcd3:\n  hosts: %s\n", c.scope, strings.Join(hosts, ","))), 0o600))
	// Verbs that take members after the cluster name get the scope first.
	full := append([]string{"-c", cfg}, args[0], c.scope)
	full = append(full, args[1:]...)
	out, err := exec.Command(bin, full...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("patronictl %v: %v\n%s", args, err, out)
	}
	return string(out)
}
