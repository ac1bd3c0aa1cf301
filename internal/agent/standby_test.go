package agent

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/config"
	"github.com/warden-ha/warden/internal/dcs"
	"github.com/warden-ha/warden/internal/dcs/dcstest"
	"github.com/warden-ha/warden/internal/ha"
)

// standbyNode records whom it was cloned from and follows, and any promotion.
type standbyNode struct {
	*fakeNode
	clonedFrom, following string
	promoted              bool
}

func (s *standbyNode) Clone(_ context.Context, from cluster.Member) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clonedFrom = from.ConnURL
	s.empty, s.running, s.primary, s.streaming = false, true, false, true
	return nil
}

func (s *standbyNode) Follow(ctx context.Context, upstream, leader *cluster.Member) error {
	s.mu.Lock()
	if upstream != nil {
		s.following = upstream.Name + " " + upstream.ConnURL
	}
	s.mu.Unlock()
	return s.fakeNode.Follow(ctx, upstream, leader)
}

func (s *standbyNode) Promote(ctx context.Context) (Promotion, error) {
	s.mu.Lock()
	s.promoted = true
	s.mu.Unlock()
	return s.fakeNode.Promote(ctx)
}

// TestStandbyClusterBootstrap drives the shell through a new standby cluster: the node
// clones from the remote primary named by standby_cluster, takes the leader key as
// standby leader, writes the initialize and config keys, publishes role standby_leader,
// and never promotes.
func TestStandbyClusterBootstrap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		raw := map[string]any{"ttl": 10, "loop_wait": 2, "retry_timeout": 4,
			"standby_cluster": map[string]any{"host": "10.0.0.9", "port": 5433}}
		d, warns := config.ParseDynamic(raw)
		if len(warns) > 0 || d.Standby == nil {
			t.Fatalf("dynamic: %v %+v", warns, d)
		}
		backend := dcstest.NewBackend(time.Now)
		store := backend.Client("pg-1", dcs.Options{Prefix: "/service/t/", Member: "pg-1", TTL: d.TTL, RetryTimeout: d.RetryTimeout})
		node := &standbyNode{fakeNode: newFakeNode()}
		a := New(Options{Name: "pg-1", Scope: "t", Dynamic: d, BootstrapDCS: raw, CanBootstrap: true}, store, node, noPeers{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		defer func() {
			cancel()
			<-done
		}()
		time.Sleep(10 * time.Second)
		synctest.Wait()

		cl, err := store.Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if cl.LeaderName() != "pg-1" {
			t.Fatalf("leader = %q, want pg-1 (the standby leader)", cl.LeaderName())
		}
		if sysid, ok := cl.InitializedSysID(); !ok || sysid != "7300000000000000001" {
			t.Errorf("initialize = %q, %v; want the cloned system identifier", sysid, ok)
		}
		if _, ok := cl.Config["standby_cluster"]; !ok {
			t.Errorf("config key = %v, want bootstrap.dcs with standby_cluster", cl.Config)
		}
		if m, _ := cl.Member("pg-1"); m.Role != cluster.RoleStandbyLeader {
			t.Errorf("member key role = %q, want standby_leader", m.Role)
		}
		if st := a.Status(); st.Role != cluster.RoleStandbyLeader || !st.StandbyCluster || !st.LockValidUntil.After(time.Now()) {
			t.Errorf("status role %q, standby cluster %v, lock valid until %v", st.Role, st.StandbyCluster, st.LockValidUntil)
		}
		node.mu.Lock()
		defer node.mu.Unlock()
		if node.clonedFrom != "postgres://10.0.0.9:5433/postgres" {
			t.Errorf("cloned from %q, want the remote primary", node.clonedFrom)
		}
		if node.following != "" && node.following != ha.RemotePrefix+"10.0.0.9:5433 postgres://10.0.0.9:5433/postgres" {
			t.Errorf("follows %q, want the remote primary", node.following)
		}
		if node.promoted || node.primary {
			t.Error("the standby leader was promoted")
		}
	})
}
