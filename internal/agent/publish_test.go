package agent

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/dcs"
	"github.com/warden-ha/warden/internal/dcs/dcstest"
)

// TestMemberKeySkipsSmallPositionMoves: the member key is rewritten for a WAL position
// alone only once it moved memberPositionStep; any other change is written at once.
func TestMemberKeySkipsSmallPositionMoves(t *testing.T) {
	d := testDynamic(10*time.Second, 2*time.Second, 4*time.Second)
	backend := dcstest.NewBackend(time.Now)
	store := backend.Client("pg-1", dcs.Options{Prefix: "/service/t/", Member: "pg-1", TTL: d.TTL, RetryTimeout: d.RetryTimeout})
	a := New(Options{Name: "pg-1", Scope: "t", Dynamic: d}, store, newFakeNode(), noPeers{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s := a.settings()
	ctx := context.Background()
	published := func() uint64 {
		t.Helper()
		cl, err := store.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m, ok := cl.Member("pg-1")
		if !ok || m.XLogLocation == nil {
			t.Fatalf("member key = %+v", m)
		}
		return *m.XLogLocation
	}
	obs := Observation{State: "running", ReplicationState: "streaming"}
	obs.Running, obs.Ready, obs.InRecovery, obs.WAL, obs.Timeline = true, true, true, 1<<26, 1
	a.touchMember(ctx, nil, obs, s)
	rev := backend.Revision()
	for range 3 {
		obs.WAL += 56
		a.touchMember(ctx, nil, obs, s)
		if got := published(); got != 1<<26 || backend.Revision() != rev {
			t.Errorf("a 56-byte move was written: position %d, revision %d -> %d", got, rev, backend.Revision())
		}
	}
	// Caught up with the leader's published optime: written, so /cluster's lag reads 0.
	obs.WAL += 56
	a.touchMember(ctx, &cluster.Cluster{Status: cluster.Status{Optime: obs.WAL}}, obs, s)
	if got := published(); got != obs.WAL {
		t.Errorf("reaching the leader's optime %d was not written: position %d", obs.WAL, got)
	}
	rev = backend.Revision()
	a.touchMember(ctx, &cluster.Cluster{Status: cluster.Status{Optime: obs.WAL}}, obs, s)
	if backend.Revision() != rev {
		t.Error("an unchanged position at the leader's optime was written again")
	}
	obs.WAL += memberPositionStep
	a.touchMember(ctx, nil, obs, s)
	if got := published(); got != obs.WAL {
		t.Errorf("a move of %d bytes was not written: position %d", memberPositionStep, got)
	}
	obs.WAL += 100
	obs.Timeline = 2
	a.touchMember(ctx, nil, obs, s)
	cl, _ := store.Load(ctx)
	if m, _ := cl.Member("pg-1"); m.Timeline != 2 || *m.XLogLocation != obs.WAL {
		t.Errorf("a timeline change was not written with the current position: %+v", m)
	}
}

// countingStore counts the HA loop's reads of the cluster.
type countingStore struct {
	dcs.Store
	mu    sync.Mutex
	loads int
}

func (c *countingStore) Load(ctx context.Context) (*cluster.Cluster, error) {
	c.mu.Lock()
	c.loads++
	c.mu.Unlock()
	return c.Store.Load(ctx)
}

func (c *countingStore) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loads
}

// TestNewReplicaPolledUntilStreaming: after a follow, the loop observes the replica every
// streamingPoll instead of every loop_wait until its WAL receiver streams, then returns
// to loop_wait.
func TestNewReplicaPolledUntilStreaming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := testDynamic(30*time.Second, 10*time.Second, 10*time.Second)
		backend := dcstest.NewBackend(time.Now)
		opts := func(name string) dcs.Options {
			return dcs.Options{Prefix: "/service/t/", Member: name, TTL: d.TTL, RetryTimeout: d.RetryTimeout}
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		leader := backend.Client("pg-0", opts("pg-0"))
		if _, err := leader.Initialize(ctx, true, "7300000000000000001"); err != nil {
			t.Fatal(err)
		}
		if err := leader.TouchMember(ctx, []byte(`{"conn_url":"postgres://127.0.0.1:5432/postgres","api_url":"http://127.0.0.1:8008/patroni","state":"running","role":"primary"}`)); err != nil {
			t.Fatal(err)
		}
		if ok, err := leader.AcquireLeader(ctx); err != nil || !ok {
			t.Fatal(ok, err)
		}
		go func() {
			for {
				_ = leader.RefreshLeader(ctx)
				select {
				case <-ctx.Done():
					return
				case <-time.After(5 * time.Second):
				}
			}
		}()
		store := &countingStore{Store: backend.Client("pg-1", opts("pg-1"))}
		node := newFakeNode()
		node.empty = false
		a := New(Options{Name: "pg-1", Scope: "t", Dynamic: d}, store, node, noPeers{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		defer func() {
			cancel()
			<-done
		}()
		time.Sleep(time.Second)
		synctest.Wait()
		node.mu.Lock()
		following := node.running && !node.primary
		node.mu.Unlock()
		if !following {
			t.Fatal("the node did not start as a replica")
		}
		before := store.count()
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if polls := store.count() - before; polls < 4 {
			t.Errorf("%d cycles in 3 s while the new replica did not stream, want one per %s", polls, streamingPoll)
		}
		node.mu.Lock()
		node.streaming = true
		node.mu.Unlock()
		time.Sleep(time.Second)
		synctest.Wait()
		before = store.count()
		time.Sleep(9 * time.Second)
		synctest.Wait()
		if polls := store.count() - before; polls > 1 {
			t.Errorf("%d cycles in 9 s once streaming, want loop_wait (10 s) again", polls)
		}
	})
}

// TestPublishedSlots: the leader's /status slots are the slots it keeps plus its own
// member slot at its WAL position (Patroni 4), none when it keeps no slots.
func TestPublishedSlots(t *testing.T) {
	if got := publishedSlots(nil, "pg-1", 9); got != nil {
		t.Errorf("without slots kept: %v, want nil", got)
	}
	kept := map[string]uint64{"pg_2": 5, "keep": 7}
	got := publishedSlots(kept, "pg-1", 9)
	want := map[string]uint64{"pg_2": 5, "keep": 7, "pg_1": 9}
	if !maps.Equal(got, want) {
		t.Errorf("published %v, want %v", got, want)
	}
	if _, ok := kept["pg_1"]; ok {
		t.Error("the kept positions were changed")
	}
}

// TestMemberKeySpeaksTheClustersPatroni: the role in the member key is master (Patroni 3)
// or primary (Patroni 4) as configured; with auto, as the other members' keys show, and
// a new cluster gets the default (Patroni 3).
func TestMemberKeySpeaksTheClustersPatroni(t *testing.T) {
	d := testDynamic(10*time.Second, 2*time.Second, 4*time.Second)
	obs := Observation{State: "running"}
	obs.Running, obs.Ready, obs.WAL, obs.Timeline = true, true, 1<<26, 1
	patroni4 := cluster.DecodeMember("pg-2", []byte(`{"role":"replica","version":"4.1.5","state":"running"}`))
	patroni3 := cluster.DecodeMember("pg-2", []byte(`{"role":"master","version":"3.0.2","state":"running"}`))
	for _, tc := range []struct {
		name       string
		configured cluster.Dialect
		others     []cluster.Member
		want       string
	}{
		{"new cluster, auto", 0, nil, "master"},
		{"auto beside Patroni 4", 0, []cluster.Member{patroni4}, "primary"},
		{"auto beside Patroni 3", 0, []cluster.Member{patroni3}, "master"},
		{"configured 4 in a new cluster", cluster.Patroni4, nil, "primary"},
		{"configured 3 beside Patroni 4", cluster.Patroni3, []cluster.Member{patroni4}, "master"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backend := dcstest.NewBackend(time.Now)
			store := backend.Client("pg-1", dcs.Options{Prefix: "/service/t/", Member: "pg-1", TTL: d.TTL, RetryTimeout: d.RetryTimeout})
			a := New(Options{Name: "pg-1", Scope: "t", Dynamic: d, Dialect: tc.configured}, store, newFakeNode(), noPeers{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			cl := &cluster.Cluster{Members: tc.others}
			a.followDialect(cl)
			a.touchMember(context.Background(), cl, obs, a.settings())
			a.publish(context.Background(), cl, obs, a.settings())
			raw, _ := backend.Get("/service/t/members/pg-1")
			if got := cluster.DecodeMember("pg-1", raw).RoleWritten; got != tc.want {
				t.Errorf("member key %s: role %q, want %q", raw, got, tc.want)
			}
			if st := a.status.Load(); st.Dialect.RoleWord(st.Role) != tc.want {
				t.Errorf("REST status speaks %q", st.Dialect.RoleWord(st.Role))
			}
		})
	}
}
