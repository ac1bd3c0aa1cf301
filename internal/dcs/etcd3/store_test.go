package etcd3

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/warden-ha/warden/internal/dcs"
	"github.com/warden-ha/warden/internal/dcs/dcstest"
	"github.com/warden-ha/warden/internal/etcdembed"
)

var (
	embedded  *etcdembed.Server
	prefixSeq atomic.Int64
)

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	s, err := etcdembed.Start(ctx, etcdembed.Config{}, slog.New(slog.DiscardHandler))
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start embedded etcd:", err)
		os.Exit(1)
	}
	embedded = s
	code := m.Run()
	_ = s.Close()
	os.Exit(code)
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

func freshPrefix() string { return fmt.Sprintf("/service/c%d/", prefixSeq.Add(1)) }

// storesOn builds one store per member (each with its own client, as separate nodes
// would have) on a fresh prefix, with a real-time advance.
func storesOn(endpoints []string) dcstest.NewStores {
	return func(t *testing.T, members ...string) ([]dcs.Store, func(time.Duration)) {
		prefix := freshPrefix()
		stores := make([]dcs.Store, len(members))
		for i, m := range members {
			s, err := New(t.Context(), ClientConfig{Endpoints: endpoints},
				dcs.Options{Prefix: prefix, Member: m, TTL: dcstest.ConformanceTTL, RetryTimeout: 5 * time.Second}, testLog(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			stores[i] = s
		}
		return stores, func(d time.Duration) {
			timer := time.NewTimer(d)
			defer timer.Stop()
			select {
			case <-timer.C:
			case <-t.Context().Done():
			}
		}
	}
}

func TestConformanceEmbedded(t *testing.T) {
	t.Parallel()
	dcstest.RunConformance(t, storesOn(embedded.Endpoints()))
}

// TestConformanceDebianEtcd34 runs the suite against the etcd server users actually
// deploy from Debian, started as a separate process.
func TestConformanceDebianEtcd34(t *testing.T) {
	t.Parallel()
	const bin = "/usr/bin/etcd"
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("%s not installed (apt-get install etcd-server): %v", bin, err)
	}
	dcstest.RunConformance(t, storesOn(startExternalEtcd(t, bin)))
}

func startExternalEtcd(t *testing.T, bin string) []string {
	t.Helper()
	cport, err := etcdembed.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	pport, err := etcdembed.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	client := fmt.Sprintf("http://127.0.0.1:%d", cport)
	peer := fmt.Sprintf("http://127.0.0.1:%d", pport)
	cmd := exec.Command(bin, "--name", "t", "--data-dir", filepath.Join(t.TempDir(), "etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "t="+peer, "--logger", "zap", "--log-level", "error")
	out, err := os.Create(filepath.Join(t.TempDir(), "etcd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		_ = cmd.Wait()
		_ = out.Close()
	})
	cli, err := NewClient(ClientConfig{Endpoints: []string{client}})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	retry := time.NewTicker(50 * time.Millisecond)
	defer retry.Stop()
	for {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		_, err := cli.Get(ctx, "/health-probe")
		cancel()
		if err == nil {
			return []string{client}
		}
		select {
		case <-retry.C:
		case <-deadline.C:
			log, _ := os.ReadFile(out.Name())
			t.Fatalf("external etcd not ready: %v\n%s", err, log)
		}
	}
}

func newStore(t *testing.T, member, prefix string, ttl time.Duration) *Store {
	t.Helper()
	s, err := New(t.Context(), ClientConfig{Endpoints: embedded.Endpoints()},
		dcs.Options{Prefix: prefix, Member: member, TTL: ttl, RetryTimeout: 5 * time.Second}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func rawClient(t *testing.T) *clientv3.Client {
	t.Helper()
	cli, err := NewClient(ClientConfig{Endpoints: embedded.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func TestTouchMemberWritesOnlyOnChange(t *testing.T) {
	prefix := freshPrefix()
	s := newStore(t, "a", prefix, 5*time.Second)
	cli := rawClient(t)
	ctx := t.Context()
	modRev := func() int64 {
		r, err := cli.Get(ctx, prefix+"members/a")
		if err != nil || len(r.Kvs) != 1 {
			t.Fatalf("get member: %v %v", r, err)
		}
		return r.Kvs[0].ModRevision
	}
	if err := s.TouchMember(ctx, []byte(`{"state":"running"}`)); err != nil {
		t.Fatal(err)
	}
	first := modRev()
	for range 3 {
		if err := s.TouchMember(ctx, []byte(`{"state":"running"}`)); err != nil {
			t.Fatal(err)
		}
	}
	if got := modRev(); got != first {
		t.Fatalf("unchanged value rewritten: mod revision %d -> %d", first, got)
	}
	if err := s.TouchMember(ctx, []byte(`{"state":"stopped"}`)); err != nil {
		t.Fatal(err)
	}
	if got := modRev(); got == first {
		t.Fatal("changed value not written")
	}
}

func TestValuesAreBarePatroniStrings(t *testing.T) {
	prefix := freshPrefix()
	s := newStore(t, "node1", prefix, 5*time.Second)
	cli := rawClient(t)
	ctx := t.Context()
	if ok, err := s.AcquireLeader(ctx); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := s.TouchMember(ctx, []byte(`{"role":"master"}`)); err != nil {
		t.Fatal(err)
	}
	r, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	leases := map[string]int64{}
	for _, kv := range r.Kvs {
		got[string(kv.Key)] = string(kv.Value)
		leases[string(kv.Key)] = kv.Lease
	}
	if got[prefix+"leader"] != "node1" || got[prefix+"members/node1"] != `{"role":"master"}` {
		t.Fatalf("keys = %v", got)
	}
	if leases[prefix+"leader"] == 0 || leases[prefix+"leader"] != leases[prefix+"members/node1"] {
		t.Fatalf("leader and member must share one lease: %v", leases)
	}
}

// A leader key left by an earlier process of the same member (same name, another lease)
// is taken over by refresh, as Patroni 4 does after a restart; a key with another name
// is never touched.
func TestRefreshReattachesOnlyOwnName(t *testing.T) {
	prefix := freshPrefix()
	cli := rawClient(t)
	ctx := t.Context()
	old, err := cli.Grant(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, prefix+"leader", "a", clientv3.WithLease(old.ID)); err != nil {
		t.Fatal(err)
	}
	a := newStore(t, "a", prefix, 5*time.Second)
	if err := a.RefreshLeader(ctx); err != nil {
		t.Fatalf("refresh of own key on an old lease: %v", err)
	}
	c, err := a.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Leader == nil || c.Leader.Lease == int64(old.ID) {
		t.Fatalf("leader not moved to the new lease: %+v", c.Leader)
	}
	if _, err := cli.Put(ctx, prefix+"leader", "b", clientv3.WithLease(old.ID)); err != nil {
		t.Fatal(err)
	}
	if err := a.RefreshLeader(ctx); err == nil {
		t.Fatal("refresh took over b's key")
	}
	r, err := cli.Get(ctx, prefix+"leader")
	if err != nil || string(r.Kvs[0].Value) != "b" || r.Kvs[0].Lease != int64(old.ID) {
		t.Fatalf("b's key changed: %v %v", r, err)
	}
}

func TestUnreachableIsNotLockLost(t *testing.T) {
	port, err := etcdembed.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(t.Context(), ClientConfig{Endpoints: []string{fmt.Sprintf("http://127.0.0.1:%d", port)}, DialTimeout: time.Second},
		dcs.Options{Prefix: "/service/x/", Member: "a", TTL: 10 * time.Second, RetryTimeout: 500 * time.Millisecond}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	begin := time.Now()
	err = s.RefreshLeader(t.Context())
	if err == nil || errors.Is(err, dcs.ErrLockLost) {
		t.Fatalf("refresh against a dead store = %v, want an unreachable error", err)
	}
	if d := time.Since(begin); d > 3*time.Second {
		t.Errorf("refresh took %s, want about retry_timeout", d)
	}
	if _, err := s.Load(t.Context()); err == nil {
		t.Fatal("load against a dead store succeeded")
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	bad := []dcs.Options{
		{Prefix: "service/x/", Member: "a", TTL: time.Second * 30, RetryTimeout: time.Second},
		{Prefix: "/service/x/", Member: "", TTL: time.Second * 30, RetryTimeout: time.Second},
		{Prefix: "/service/x/", Member: "a/b", TTL: time.Second * 30, RetryTimeout: time.Second},
		{Prefix: "/service/x/", Member: "a", TTL: 0, RetryTimeout: time.Second},
		{Prefix: "/service/x/", Member: "a", TTL: time.Second * 30},
	}
	for _, o := range bad {
		if _, err := New(t.Context(), ClientConfig{Endpoints: embedded.Endpoints()}, o, testLog(t)); err == nil {
			t.Errorf("New accepted %+v", o)
		}
	}
}
