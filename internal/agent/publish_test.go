package agent

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

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
	a.touchMember(ctx, obs, s)
	rev := backend.Revision()
	for range 3 {
		obs.WAL += 56
		a.touchMember(ctx, obs, s)
		if got := published(); got != 1<<26 || backend.Revision() != rev {
			t.Errorf("a 56-byte move was written: position %d, revision %d -> %d", got, rev, backend.Revision())
		}
	}
	obs.WAL = 1<<26 + memberPositionStep
	a.touchMember(ctx, obs, s)
	if got := published(); got != obs.WAL {
		t.Errorf("a move of %d bytes was not written: position %d", memberPositionStep, got)
	}
	obs.WAL += 100
	obs.Timeline = 2
	a.touchMember(ctx, obs, s)
	cl, _ := store.Load(ctx)
	if m, _ := cl.Member("pg-1"); m.Timeline != 2 || *m.XLogLocation != obs.WAL {
		t.Errorf("a timeline change was not written with the current position: %+v", m)
	}
}
