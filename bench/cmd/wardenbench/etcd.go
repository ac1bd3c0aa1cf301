package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

var (
	portMu   sync.Mutex
	usedPort = map[int]bool{}
)

// freePort picks a port below the ephemeral range (so no outgoing connection can take it
// between the check and the use) that nothing listens on.
func freePort() int {
	portMu.Lock()
	defer portMu.Unlock()
	for {
		p := 20000 + rand.IntN(10000)
		if usedPort[p] {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		l.Close()
		usedPort[p] = true
		return p
	}
}

// etcdProc is Debian's etcd run as an external process so it can be frozen with SIGSTOP.
type etcdProc struct {
	cmd        *exec.Cmd
	clientPort int
	endpoint   string
	cli        *clientv3.Client
}

func startEtcd(ctx context.Context, dir string) (*etcdProc, error) {
	cp, pp := freePort(), freePort()
	data := filepath.Join(dir, fmt.Sprintf("etcd-%d", cp))
	logf, err := os.Create(data + ".log")
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	e := &etcdProc{clientPort: cp, endpoint: fmt.Sprintf("http://127.0.0.1:%d", cp)}
	e.cmd = exec.Command("/usr/bin/etcd", "--name", "bench", "--data-dir", data,
		"--listen-client-urls", e.endpoint, "--advertise-client-urls", e.endpoint,
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", pp),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", pp),
		"--initial-cluster", fmt.Sprintf("bench=http://127.0.0.1:%d", pp),
		"--metrics", "extensive")
	e.cmd.Stdout, e.cmd.Stderr = logf, logf
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := e.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	reg.add(e.cmd.Process.Pid, "etcd")
	go func() { _ = e.cmd.Wait() }()
	e.cli, err = clientv3.New(clientv3.Config{Endpoints: []string{e.endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := e.revision(ctx); err == nil {
			return e, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("etcd on %s did not answer within 30s (log %s.log)", e.endpoint, data)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (e *etcdProc) pid() int { return e.cmd.Process.Pid }

func (e *etcdProc) revision(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	r, err := e.cli.Get(ctx, "/bench-revision-probe")
	if err != nil {
		return 0, err
	}
	return r.Header.Revision, nil
}

// revisionsUnder counts the revisions in (from, to] that changed a key under prefix: the
// writes of one cluster, without the lease expiries of clusters destroyed earlier.
func (e *etcdProc) revisionsUnder(ctx context.Context, prefix string, from, to int64) (int, error) {
	if to <= from {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	revs := map[int64]bool{}
	for resp := range e.cli.Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(from+1)) {
		if err := resp.Err(); err != nil {
			return 0, err
		}
		for _, ev := range resp.Events {
			if ev.Kv.ModRevision > to {
				return len(revs), nil
			}
			revs[ev.Kv.ModRevision] = true
		}
	}
	// No event after to: the watch ran until the timeout.
	return len(revs), nil
}

func (e *etcdProc) stop() {
	if e == nil {
		return
	}
	if e.cli != nil {
		e.cli.Close()
	}
	pid := e.pid()
	_ = syscall.Kill(pid, syscall.SIGCONT)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	if !waitDead(pid, 10*time.Second) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// metrics reads the counters the benchmark compares, summed over their labels, plus the
// LeaseKeepAlive messages received by gRPC (Warden) and the gateway (Patroni, which
// reaches the same gRPC service).
func (e *etcdProc) metrics() (map[string]float64, error) {
	resp, err := (&http.Client{Timeout: 3 * time.Second}).Get(e.endpoint + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	want := []string{"etcd_debugging_mvcc_put_total", "etcd_debugging_mvcc_txn_total", "etcd_debugging_mvcc_range_total",
		"etcd_debugging_mvcc_delete_total", "etcd_debugging_lease_renewed_total", "etcd_debugging_lease_granted_total",
		"etcd_debugging_lease_revoked_total", "etcd_mvcc_put_total", "etcd_mvcc_txn_total", "etcd_mvcc_range_total"}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Fields(l)
		if len(f) != 2 {
			continue
		}
		name := f[0]
		base := name
		if i := strings.IndexByte(name, '{'); i >= 0 {
			base = name[:i]
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		for _, w := range want {
			if base == w {
				out[w] += v
			}
		}
		if base == "grpc_server_msg_received_total" && strings.Contains(name, `grpc_method="LeaseKeepAlive"`) {
			out["grpc_lease_keepalive_msgs"] += v
		}
		if base == "grpc_server_started_total" {
			out["grpc_calls_started"] += v
		}
		if base == "etcd_disk_backend_commit_duration_seconds_count" {
			out["backend_commits"] += v
		}
	}
	return out, sc.Err()
}
