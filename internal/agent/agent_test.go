package agent

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/warden-ha/warden/internal/api/client"
	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/config"
	"github.com/warden-ha/warden/internal/dcs"
	"github.com/warden-ha/warden/internal/dcs/dcstest"
	"github.com/warden-ha/warden/internal/ha"
)

// fakeNode is PostgreSQL as plain data: enough to drive the shell through its decisions.
type fakeNode struct {
	mu      sync.Mutex
	empty   bool
	running bool
	primary bool
	// streaming: a running replica's WAL receiver streams.
	streaming bool
	wal       uint64
	stops     []time.Time
	exits     chan struct{}
}

func newFakeNode() *fakeNode { return &fakeNode{empty: true, exits: make(chan struct{}, 1)} }

func (f *fakeNode) Observe(context.Context, []cluster.Member) Observation {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := Observation{State: "stopped"}
	o.DataDirEmpty = f.empty
	if f.empty {
		return o
	}
	o.SysID = "7300000000000000001"
	o.Running, o.Ready, o.InRecovery, o.WAL = f.running, f.running, !f.primary, f.wal
	o.Streaming = f.running && !f.primary && f.streaming
	if f.running {
		o.State = "running"
	}
	return o
}
func (f *fakeNode) Exits() <-chan struct{} { return f.exits }
func (f *fakeNode) Bootstrap(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.empty, f.running, f.primary, f.wal = false, true, true, 100
	return "7300000000000000001", nil
}
func (f *fakeNode) Clone(context.Context, cluster.Member) error { return nil }
func (f *fakeNode) Follow(context.Context, *cluster.Member, *cluster.Member) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.running, f.primary = true, false
	return nil
}
func (f *fakeNode) StartPrimary(context.Context) error { return nil }
func (f *fakeNode) Promote(context.Context) (Promotion, error) {
	return Promotion{OldTimeline: 1, SwitchLSN: 100}, nil
}
func (f *fakeNode) Stop(_ context.Context, _ ha.StopMode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.running = false
	f.stops = append(f.stops, time.Now())
	return nil
}
func (f *fakeNode) CopySlots(context.Context, cluster.Member, []string) error { return nil }
func (f *fakeNode) EnsureSlots(context.Context, ha.SlotTargets) (ha.SlotsPublished, error) {
	return ha.SlotsPublished{}, nil
}
func (f *fakeNode) Checkpoint(context.Context) error { return nil }
func (f *fakeNode) Restart(context.Context) error    { return nil }
func (f *fakeNode) Reinitialize(context.Context, cluster.Member) error {
	return nil
}
func (f *fakeNode) SetSyncStandbyNames(context.Context, string, bool) error { return nil }

func (f *fakeNode) stoppedAt() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.stops...)
}

// hangingStore blocks every call until its context ends while hang is set, as a frozen
// etcd does.
type hangingStore struct {
	dcs.Store
	mu   sync.Mutex
	hang bool
	// hangAfterRefresh starts hanging right after the next successful refresh, the
	// worst moment: the lease is as fresh as it gets and the loop still has writes to do.
	hangAfterRefresh bool
	// hangAfterLoad, when set, starts hanging right after a Load whose snapshot it
	// accepts.
	hangAfterLoad func(*cluster.Cluster) bool
	hungAt        time.Time
	// refreshedAt is when the last successful refresh was sent.
	refreshedAt time.Time
}

func (h *hangingStore) block(ctx context.Context) error {
	h.mu.Lock()
	hang := h.hang
	h.mu.Unlock()
	if !hang {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

func (h *hangingStore) Load(ctx context.Context) (*cluster.Cluster, error) {
	if err := h.block(ctx); err != nil {
		return nil, err
	}
	cl, err := h.Store.Load(ctx)
	h.mu.Lock()
	if err == nil && h.hangAfterLoad != nil && h.hangAfterLoad(cl) && !h.hang {
		h.hang, h.hungAt = true, time.Now()
	}
	h.mu.Unlock()
	return cl, err
}
func (h *hangingStore) TouchMember(ctx context.Context, v []byte) error {
	if err := h.block(ctx); err != nil {
		return err
	}
	return h.Store.TouchMember(ctx, v)
}
func (h *hangingStore) RefreshLeader(ctx context.Context) error {
	if err := h.block(ctx); err != nil {
		return err
	}
	sent := time.Now()
	err := h.Store.RefreshLeader(ctx)
	h.mu.Lock()
	if err == nil {
		h.refreshedAt = sent
	}
	if err == nil && h.hangAfterRefresh && !h.hang {
		h.hang, h.hungAt = true, time.Now()
	}
	h.mu.Unlock()
	return err
}
func (h *hangingStore) SetStatus(ctx context.Context, v []byte) error {
	if err := h.block(ctx); err != nil {
		return err
	}
	return h.Store.SetStatus(ctx, v)
}

type noPeers struct{}

func (noPeers) Status(context.Context, string) (client.PeerStatus, error) {
	return client.PeerStatus{}, context.DeadlineExceeded
}

func (noPeers) PostFailsafe(context.Context, string, []byte) (int, string, error) {
	return 0, "", context.DeadlineExceeded
}

func testDynamic(ttl, loopWait, retry time.Duration) config.Dynamic {
	d := config.DefaultDynamic()
	d.TTL, d.LoopWait, d.RetryTimeout = ttl, loopWait, retry
	d.Raw = map[string]any{"ttl": int(ttl / time.Second), "loop_wait": int(loopWait / time.Second), "retry_timeout": int(retry / time.Second)}
	return d
}

// hungStoreAgent runs a bootstrapping agent for pg-1 on a hangingStore; stop ends it.
func hungStoreAgent(t *testing.T, ttl, loopWait, retry time.Duration) (*dcstest.Backend, *hangingStore, *fakeNode, *Agent, func()) {
	backend := dcstest.NewBackend(time.Now)
	store := &hangingStore{Store: backend.Client("pg-1", dcs.Options{Prefix: "/service/t/", Member: "pg-1", TTL: ttl, RetryTimeout: retry})}
	node := newFakeNode()
	d := testDynamic(ttl, loopWait, retry)
	a := New(Options{Name: "pg-1", Scope: "t", CanBootstrap: true, Dynamic: d, BootstrapDCS: d.Raw}, store, node, noPeers{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	return backend, store, node, a, func() {
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// TestPrimaryDemotesBeforeLeaseExpiresWhenStoreHangs: with every store call hanging, the
// primary must stop PostgreSQL before ttl has passed since its last successful refresh —
// the store calls themselves are cut short so the loop reaches the decision in time.
func TestPrimaryDemotesBeforeLeaseExpiresWhenStoreHangs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ttl, loopWait, retry = 10 * time.Second, 2 * time.Second, 4 * time.Second
		_, store, node, a, stop := hungStoreAgent(t, ttl, loopWait, retry)

		// Bootstrap, then run steadily as the leader for a while.
		time.Sleep(20 * time.Second)
		synctest.Wait()
		if st := a.Status(); st.Role != cluster.RolePrimary || !time.Now().Before(st.LockValidUntil) {
			t.Fatalf("not a primary holding the lock after bootstrap: role=%s lockValidUntil=%v", st.Role, st.LockValidUntil)
		}
		store.mu.Lock()
		store.hangAfterRefresh = true
		store.mu.Unlock()
		time.Sleep(2 * ttl)
		synctest.Wait()
		store.mu.Lock()
		lastRefresh := store.hungAt
		store.mu.Unlock()
		stops := node.stoppedAt()
		if len(stops) == 0 {
			t.Fatalf("the primary never stopped PostgreSQL while the store hung for %s", 2*ttl)
		}
		if deadline := lastRefresh.Add(ttl - retry + time.Second); stops[0].After(deadline) {
			t.Errorf("stopped %s after the last refresh, want by ttl - retry_timeout (+1s) = %s", stops[0].Sub(lastRefresh), ttl-retry+time.Second)
		}
		if !stops[0].Before(lastRefresh.Add(ttl)) {
			t.Errorf("stopped at or after the lease could expire (%s after the last refresh)", stops[0].Sub(lastRefresh))
		}
		store.mu.Lock()
		store.hang, store.hangAfterRefresh = false, false
		store.mu.Unlock()
		stop()
	})
}

// TestBootstrapThenSteadyLeader: a single node bootstraps the cluster, writes the
// initialize and config keys, and keeps the leader key.
func TestBootstrapThenSteadyLeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := testDynamic(10*time.Second, 2*time.Second, 4*time.Second)
		backend := dcstest.NewBackend(time.Now)
		store := backend.Client("pg-1", dcs.Options{Prefix: "/service/t/", Member: "pg-1", TTL: d.TTL, RetryTimeout: d.RetryTimeout})
		node := newFakeNode()
		a := New(Options{Name: "pg-1", Scope: "t", CanBootstrap: true, Dynamic: d, BootstrapDCS: d.Raw}, store, node, noPeers{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		time.Sleep(time.Minute)
		synctest.Wait()
		cl, err := store.Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if cl.LeaderName() != "pg-1" {
			t.Errorf("leader = %q after a minute, want pg-1", cl.LeaderName())
		}
		if sysid, ok := cl.InitializedSysID(); !ok || sysid != "7300000000000000001" {
			t.Errorf("initialize = %v", cl.Initialize)
		}
		if cl.Config["ttl"] == nil {
			t.Errorf("config key not written from bootstrap.dcs: %v", cl.Config)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if cl, _ := store.Load(context.Background()); cl.Locked() {
			t.Error("graceful shutdown left the leader key behind")
		}
	})
}

// TestSysIDMismatchLeavesPostgresAlone: a node whose running PostgreSQL belongs to another
// cluster exits with the mismatch error and neither stops nor reconfigures that server.
func TestSysIDMismatchLeavesPostgresAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := testDynamic(10*time.Second, 2*time.Second, 4*time.Second)
		backend := dcstest.NewBackend(time.Now)
		backend.Put("/service/t/initialize", []byte("7399999999999999999"))
		store := backend.Client("pg-1", dcs.Options{Prefix: "/service/t/", Member: "pg-1", TTL: d.TTL, RetryTimeout: d.RetryTimeout})
		node := newFakeNode()
		node.empty, node.running = false, true
		a := New(Options{Name: "pg-1", Scope: "t", Dynamic: d, BootstrapDCS: d.Raw}, store, node, noPeers{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		err := a.Run(context.Background())
		want := "system ID mismatch, node pg-1 belongs to a different cluster: 7399999999999999999 != 7300000000000000001"
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Fatalf("Run = %v, want an error starting %q", err, want)
		}
		if stops := node.stoppedAt(); len(stops) != 0 {
			t.Errorf("PostgreSQL of the other cluster was stopped %d times", len(stops))
		}
	})
}

// TestRaisedTTLCountsWithTheOldLease: ttl is raised from 10 s to 30 s and the store
// hangs right after the read that brought the change, before any refresh could move the
// leader key onto a lease of the new TTL. The key still expires 10 s after the last
// refresh, so the primary must stop PostgreSQL before then (from ttl - retry_timeout
// of the old lease on), not count on the new ttl.
func TestRaisedTTLCountsWithTheOldLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ttl, raised, loopWait, retry = 10 * time.Second, 30 * time.Second, 2 * time.Second, 4 * time.Second
		backend, store, node, a, stop := hungStoreAgent(t, ttl, loopWait, retry)

		time.Sleep(20 * time.Second)
		synctest.Wait()
		if st := a.Status(); st.Role != cluster.RolePrimary {
			t.Fatalf("not a primary after bootstrap: role=%s", st.Role)
		}
		store.mu.Lock()
		store.hangAfterLoad = func(cl *cluster.Cluster) bool { return cl.Config["ttl"] == float64(raised/time.Second) }
		store.mu.Unlock()
		backend.Put("/service/t/config", cluster.EncodeConfig(testDynamic(raised, loopWait, retry).Raw))
		time.Sleep(2 * raised)
		synctest.Wait()
		store.mu.Lock()
		lastRefresh, hungAt := store.refreshedAt, store.hungAt
		store.mu.Unlock()
		if hungAt.IsZero() {
			t.Fatal("the agent never read the raised ttl")
		}
		if a.Dynamic().TTL != raised {
			t.Fatalf("ttl in force = %s, want the raised %s", a.Dynamic().TTL, raised)
		}
		stops := node.stoppedAt()
		if len(stops) == 0 {
			t.Fatalf("the primary never stopped PostgreSQL while the store hung for %s", 2*raised)
		}
		if !stops[0].Before(lastRefresh.Add(ttl)) {
			t.Errorf("stopped %s after the last refresh: at or after the old lease (ttl %s) could expire", stops[0].Sub(lastRefresh), ttl)
		}
		if deadline := lastRefresh.Add(ttl - retry/2); stops[0].After(deadline) {
			t.Errorf("stopped %s after the last refresh, want before the fence would act (old ttl - retry_timeout/2 = %s)", stops[0].Sub(lastRefresh), ttl-retry/2)
		}
		store.mu.Lock()
		store.hang, store.hangAfterLoad = false, nil
		store.mu.Unlock()
		stop()
	})
}
