package agent

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/warden-ha/warden/internal/api/client"
	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/dcs"
	"github.com/warden-ha/warden/internal/dcs/dcstest"
)

// failsafePeers answers POST /failsafe for the other members.
type failsafePeers struct {
	mu       sync.Mutex
	accept   bool
	lastSent time.Time
	calls    int
}

func (p *failsafePeers) Status(context.Context, string) (client.PeerStatus, error) {
	return client.PeerStatus{}, context.DeadlineExceeded
}

func (p *failsafePeers) PostFailsafe(_ context.Context, url string, body []byte) (int, string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	var b map[string]string
	if err := json.Unmarshal(body, &b); err != nil || b["name"] != "pg-1" || url != "http://pg-2:8008/patroni" {
		return 400, "bad request", nil
	}
	if !p.accept {
		return 500, "DCS is accessible", nil
	}
	p.lastSent = time.Now()
	return 200, "Accepted", nil
}

func (p *failsafePeers) set(accept bool) {
	p.mu.Lock()
	p.accept = accept
	p.mu.Unlock()
}

// TestFailsafeKeepsPrimaryWhileMembersConfirm: with failsafe_mode on, a primary whose
// store hangs keeps PostgreSQL running as long as the other member confirms, takes its
// (expired) key back when the store returns, and once the member stops confirming
// demotes before the last confirmation + ttl - retry_timeout (+ a loop).
func TestFailsafeKeepsPrimaryWhileMembersConfirm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ttl, loopWait, retry = 10 * time.Second, 2 * time.Second, 4 * time.Second
		backend := dcstest.NewBackend(time.Now)
		opts := dcs.Options{Prefix: "/service/t/", Member: "pg-1", TTL: ttl, RetryTimeout: retry}
		store := &hangingStore{Store: backend.Client("pg-1", opts)}
		other := backend.Client("pg-2", dcs.Options{Prefix: "/service/t/", Member: "pg-2", TTL: ttl, RetryTimeout: retry})
		node := newFakeNode()
		d := testDynamic(ttl, loopWait, retry)
		d.FailsafeMode = true
		d.Raw["failsafe_mode"] = true
		peers := &failsafePeers{accept: true}
		a := New(Options{Name: "pg-1", Scope: "t", APIURL: "http://pg-1:8008/patroni", CanBootstrap: true, Dynamic: d, BootstrapDCS: d.Raw},
			store, node, peers, slog.New(slog.NewTextHandler(io.Discard, nil)))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()

		// pg-2 reaches the store throughout and keeps its member key.
		go func() {
			for ctx.Err() == nil {
				_ = other.TouchMember(ctx, cluster.EncodeMember(cluster.Member{Name: "pg-2", APIURL: "http://pg-2:8008/patroni", State: "running", Role: cluster.RoleReplica}))
				select {
				case <-ctx.Done():
				case <-time.After(loopWait):
				}
			}
		}()
		time.Sleep(23 * time.Second)
		synctest.Wait()
		cl, err := store.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]string{"pg-1": "http://pg-1:8008/patroni", "pg-2": "http://pg-2:8008/patroni"}; len(cl.Failsafe) != 2 || cl.Failsafe["pg-2"] != want["pg-2"] || cl.Failsafe["pg-1"] != want["pg-1"] {
			t.Fatalf("failsafe key = %v, want %v", cl.Failsafe, want)
		}

		store.mu.Lock()
		store.hang = true
		store.mu.Unlock()
		time.Sleep(3 * ttl)
		synctest.Wait()
		if stops := node.stoppedAt(); len(stops) > 0 {
			t.Fatalf("the primary stopped PostgreSQL while every member confirmed it")
		}
		if st := a.Status(); !st.FailsafeActive || st.Role != cluster.RolePrimary || !time.Now().Before(st.LockValidUntil) {
			t.Errorf("status during failsafe: active=%v role=%s lockValidUntil=%v", st.FailsafeActive, st.Role, st.LockValidUntil)
		}

		// The store returns: the lease ran out meanwhile, the primary takes the key again.
		store.mu.Lock()
		store.hang = false
		store.mu.Unlock()
		// A store call started before the store returned still runs out its timeout.
		time.Sleep(2*retry + loopWait)
		synctest.Wait()
		if cl, err := store.Load(ctx); err != nil || cl.LeaderName() != "pg-1" {
			t.Fatalf("after the store returned: leader %q, err %v", cl.LeaderName(), err)
		}
		if stops := node.stoppedAt(); len(stops) > 0 {
			t.Fatalf("the primary stopped PostgreSQL when the store returned")
		}
		if st := a.Status(); st.FailsafeActive {
			t.Errorf("failsafe still reported active with the store back")
		}

		// Second outage; the member stops confirming.
		store.mu.Lock()
		store.hang = true
		store.mu.Unlock()
		time.Sleep(2 * ttl)
		peers.set(false)
		time.Sleep(2 * ttl)
		synctest.Wait()
		peers.mu.Lock()
		lastSent := peers.lastSent
		peers.mu.Unlock()
		stops := node.stoppedAt()
		if len(stops) == 0 {
			t.Fatal("the primary kept running without confirmations")
		}
		if deadline := lastSent.Add(ttl - retry + time.Second); stops[0].After(deadline) {
			t.Errorf("stopped %s after the last confirmed request, want by ttl - retry_timeout (+1s)", stops[0].Sub(lastSent))
		}
		if !stops[0].Before(lastSent.Add(ttl)) {
			t.Errorf("stopped at or after the member may race (%s after the last confirmed request)", stops[0].Sub(lastSent))
		}
		store.mu.Lock()
		store.hang = false
		store.mu.Unlock()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// TestFailsafeAcceptOnlyWithoutDCS: a member accepts POST /failsafe only when it cannot
// read the DCS (its loop's last read failed, or a read made for the request fails); the
// next decision sees the acceptance, and a race decided before it does not take the key.
func TestFailsafeAcceptOnlyWithoutDCS(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ttl, loopWait, retry = 10 * time.Second, 2 * time.Second, 4 * time.Second
		backend := dcstest.NewBackend(time.Now)
		store := &hangingStore{Store: backend.Client("pg-2", dcs.Options{Prefix: "/service/t/", Member: "pg-2", TTL: ttl, RetryTimeout: retry})}
		d := testDynamic(ttl, loopWait, retry)
		d.FailsafeMode = true
		d.Raw["failsafe_mode"] = true
		a := New(Options{Name: "pg-2", Scope: "t", Dynamic: d, BootstrapDCS: d.Raw}, store, newFakeNode(), noPeers{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		ctx := context.Background()
		s := a.settings()
		a.loadCluster(ctx, s)
		if res := a.AcceptFailsafe(ctx, "pg-1"); res.Code != 500 || res.Message != "DCS is accessible" {
			t.Errorf("with the DCS readable: %d %q, want 500 DCS is accessible", res.Code, res.Message)
		}
		store.mu.Lock()
		store.hang = true
		store.mu.Unlock()
		// The loop has not noticed yet: the member's own read fails.
		if res := a.AcceptFailsafe(ctx, "pg-1"); res.Code != 200 || res.Message != "Accepted" {
			t.Errorf("with the DCS hanging since the last read: %d %q, want 200 Accepted", res.Code, res.Message)
		}
		if err := a.failsafe.claimLeader(); err != errAcceptedMeanwhile {
			t.Errorf("claiming the key after an acceptance the decision did not see: %v, want %v", err, errAcceptedMeanwhile)
		}
		a.loadCluster(ctx, s)
		if res := a.AcceptFailsafe(ctx, "pg-1"); res.Code != 200 || res.Message != "Accepted" {
			t.Errorf("with the DCS unreachable: %d %q, want 200 Accepted", res.Code, res.Message)
		}
		time.Sleep(time.Second)
		accepted := time.Now()
		if res := a.AcceptFailsafe(ctx, "pg-1"); res.Code != 200 {
			t.Errorf("again: %d %q, want 200 Accepted", res.Code, res.Message)
		}
		if in := a.failsafe.input(); in.AcceptedAt.Equal(accepted) {
			t.Errorf("acceptance visible before the next DCS read: %v", in.AcceptedAt)
		}
		store.mu.Lock()
		store.hang = false
		store.mu.Unlock()
		a.loadCluster(ctx, s)
		if in := a.failsafe.input(); !in.AcceptedAt.Equal(accepted) || in.AcceptedFrom != "pg-1" {
			t.Errorf("the next decision sees acceptance %v from %q, want %v from pg-1", in.AcceptedAt, in.AcceptedFrom, accepted)
		}
		if !a.failsafeActive(s) {
			t.Error("a member that accepted within ttl does not report failsafe active")
		}
		if err := a.failsafe.claimLeader(); err != nil {
			t.Errorf("claiming the key with every acceptance seen: %v", err)
		}
		if res := a.AcceptFailsafe(ctx, "pg-1"); res.Code != 500 || res.Message != "Running as a leader" {
			t.Errorf("while taking the key: %d %q, want 500 Running as a leader", res.Code, res.Message)
		}
	})
}
