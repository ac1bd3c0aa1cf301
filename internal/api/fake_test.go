package api

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptrace"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
)

var testNow = time.Date(2024, 8, 28, 19, 39, 26, 0, time.UTC)

type fakeSource struct {
	st      atomic.Pointer[Status]
	cluster *cluster.Cluster
	err     error
}

func (f *fakeSource) Status() *Status { return f.st.Load() }

func (f *fakeSource) Cluster(ctx context.Context) (*cluster.Cluster, error) {
	if f.err != nil {
		return nil, f.err
	}
	return f.cluster, nil
}

func newTestServer(t testing.TB, st *Status) (*Server, *fakeSource) {
	t.Helper()
	src := &fakeSource{}
	src.st.Store(st)
	s := New(src, Options{Listen: "127.0.0.1:0"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.now = func() time.Time { return testNow }
	return s, src
}

func ts(s string) *string { return &s }

func primaryStatus() *Status {
	return &Status{
		Name: "pg-1", Scope: "batman", State: "running", Role: cluster.RolePrimary,
		PostgresReachable: true, ServerVersion: 150002,
		PostmasterStartTime: "2024-08-28 19:30:00.123456+00:00",
		XLogLocation:        100_000_000, Timeline: 2,
		Replication: []ReplicationRow{{Usename: "replicator", ApplicationName: "pg-2",
			ClientAddr: "127.0.0.1", State: "streaming", SyncState: "async"}},
		LockValidUntil: testNow.Add(20 * time.Second), DCSAvailable: true,
		DCSLastSeen: testNow.Add(-2 * time.Second), LeaderOptime: 100_000_000,
		Tags: map[string]any{"datacenter": "dc1"}, SysID: "7408210384392712345",
		NextLoop: testNow.Add(5 * time.Second), TTL: 30 * time.Second,
	}
}

func replicaStatus() *Status {
	return &Status{
		Name: "pg-2", Scope: "batman", State: "running", Role: cluster.RoleReplica,
		PostgresReachable: true, ServerVersion: 150002,
		PostmasterStartTime: "2024-08-28 19:31:00.654321+00:00",
		ReceivedLocation:    99_000_000, ReplayedLocation: 98_000_000,
		ReplayedTimestamp: ts("2024-08-28 19:39:25.000001+00:00"), Timeline: 2,
		ReplicationState: "streaming", DCSAvailable: true,
		DCSLastSeen: testNow.Add(-1 * time.Second), LeaderOptime: 100_000_000,
		Tags:  map[string]any{"datacenter": "dc2", "nofailover": false, "weight": 3},
		SysID: "7408210384392712345", NextLoop: testNow.Add(5 * time.Second), TTL: 30 * time.Second,
	}
}

func withConnTrace(ctx context.Context, local *string) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { *local = info.Conn.LocalAddr().String() },
	})
}
