package api

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warden-ha/warden/internal/cluster"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s mismatch:\n got: %s\nwant: %s", name, got, want)
	}
}

func get(t *testing.T, s *Server, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func TestPatroniGolden(t *testing.T) {
	for name, st := range map[string]*Status{
		"patroni_primary.json": primaryStatus(),
		"patroni_replica.json": with(replicaStatus(), func(s *Status) { s.SyncMode, s.SyncStandby = true, true }),
		"patroni_pg_down.json": with(replicaStatus(), func(s *Status) {
			s.PostgresReachable, s.DCSAvailable, s.Pause = false, false, true
		}),
		"patroni_stopped.json": with(primaryStatus(), func(s *Status) {
			s.PostgresReachable, s.State, s.Tags, s.PendingRestart, s.WatchdogFailed = false, "stopped", nil, true, true
		}),
		"patroni4_primary.json": with(primaryStatus(), func(s *Status) { s.Dialect = cluster.Patroni4 }),
	} {
		t.Run(name, func(t *testing.T) {
			s, _ := newTestServer(t, st)
			rec := get(t, s, "/patroni")
			if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("code %d, Content-Type %q", rec.Code, rec.Header().Get("Content-Type"))
			}
			golden(t, name, rec.Body.Bytes())
		})
	}
}

func TestStatusCacheFollowsPublishedStatus(t *testing.T) {
	s, src := newTestServer(t, primaryStatus())
	if rec := get(t, s, "/master"); rec.Code != http.StatusOK {
		t.Fatalf("primary: %d", rec.Code)
	}
	src.st.Store(replicaStatus())
	rec := get(t, s, "/master")
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"role":"replica"`) {
		t.Fatalf("after republish: %d %s", rec.Code, rec.Body.String())
	}
}

func testCluster() *cluster.Cluster {
	u := func(n uint64) *uint64 { return &n }
	return &cluster.Cluster{
		Config: map[string]any{"ttl": 30.0, "loop_wait": 10.0, "pause": true},
		Leader: &cluster.Leader{Name: "pg-1"},
		Members: []cluster.Member{
			{Name: "pg-3", ConnURL: "postgres://10.0.0.3:5433/postgres", APIURL: "http://10.0.0.3:8008/patroni",
				State: "running", Role: cluster.RoleReplica, Timeline: 2},
			{Name: "pg-1", ConnURL: "postgres://10.0.0.1:5432/postgres", APIURL: "http://10.0.0.1:8008/patroni",
				State: "running", Role: cluster.RolePrimary, XLogLocation: u(5000), Timeline: 2,
				Tags: map[string]any{"clonefrom": true}},
			{Name: "pg-2", ConnURL: "postgres://10.0.0.2:5432/postgres", APIURL: "http://10.0.0.2:8008/patroni",
				State: "running", Role: cluster.RoleReplica, XLogLocation: u(4000), Timeline: 2, PendingRestart: true, ReplicationState: "streaming"},
			{Name: "pg-4", ConnURL: "postgres://10.0.0.4:5432/postgres", APIURL: "http://10.0.0.4:8008/patroni",
				State: "running", Role: cluster.RoleReplica, XLogLocation: u(6000)},
		},
		Status:     cluster.Status{Optime: 5000},
		Sync:       &cluster.SyncState{Leader: "pg-1", SyncStandby: []string{"pg-2"}},
		History:    []cluster.HistoryEntry{{Timeline: 1, LSN: 4000, Reason: "no recovery target specified", Timestamp: "2024-08-28T19:30:00+00:00", NewLeader: "pg-1"}},
		HasHistory: true,
	}
}

func TestClusterEndpoints(t *testing.T) {
	s, src := newTestServer(t, primaryStatus())
	src.cluster = testCluster()
	for _, tc := range []struct{ path, golden string }{
		{"/cluster", "cluster.json"},
		{"/history", "history.json"},
		{"/config", "config.json"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			rec := get(t, s, tc.path)
			if rec.Code != http.StatusOK {
				t.Fatalf("code %d: %s", rec.Code, rec.Body.String())
			}
			golden(t, tc.golden, rec.Body.Bytes())
		})
	}
}

// TestClusterInPatroni4Words: Patroni 4's /cluster shows a replica's replication_state
// (streaming) as its state; Patroni 3's shows state (running).
func TestClusterInPatroni4Words(t *testing.T) {
	s, src := newTestServer(t, with(primaryStatus(), func(s *Status) { s.Dialect = cluster.Patroni4 }))
	src.cluster = testCluster()
	rec := get(t, s, "/cluster")
	golden(t, "cluster4.json", rec.Body.Bytes())
}

func TestClusterEndpointErrors(t *testing.T) {
	s, src := newTestServer(t, primaryStatus())
	src.err = errors.New("etcd: context deadline exceeded")
	for _, path := range []string{"/cluster", "/history", "/config", "/failsafe"} {
		if rec := get(t, s, path); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "deadline") {
			t.Fatalf("%s with DCS down: %d %q", path, rec.Code, rec.Body.String())
		}
	}
	src.err = nil
	src.cluster = &cluster.Cluster{}
	for _, path := range []string{"/config", "/failsafe"} {
		if rec := get(t, s, path); rec.Code != http.StatusBadGateway {
			t.Fatalf("%s absent: %d %q", path, rec.Code, rec.Body.String())
		}
	}
	if rec := get(t, s, "/history"); rec.Code != http.StatusOK || rec.Body.String() != "[]" {
		t.Fatalf("/history absent: %d %q", rec.Code, rec.Body.String())
	}
}

func startServer(t testing.TB, st *Status) *Server {
	t.Helper()
	s, _ := newTestServer(t, st)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

// rawRequest sends bytes as HAProxy would and returns the status line.
func rawRequest(t *testing.T, addr, req string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(line)
}

func TestRealListenerRequestLines(t *testing.T) {
	primary := startServer(t, primaryStatus())
	replica := startServer(t, replicaStatus())
	cases := []struct {
		name string
		addr string
		req  string
		want string
	}{
		{"haproxy no space primary", primary.Addr(), "OPTIONS OPTIONS/master HTTP/1.0\r\n\r\n", "HTTP/1.0 200 OK"},
		{"haproxy no space replica", replica.Addr(), "OPTIONS OPTIONS/master HTTP/1.0\r\n\r\n", "HTTP/1.0 503 Service Unavailable"},
		{"haproxy spaced", replica.Addr(), "OPTIONS /replica HTTP/1.0\r\n\r\n", "HTTP/1.0 200 OK"},
		{"http/1.1", primary.Addr(), "HEAD /primary HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK"},
		{"garbage", primary.Addr(), "NOT-HTTP\r\n\r\n", "HTTP/1.1 400 Bad Request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := rawRequest(t, tc.addr, tc.req); got != tc.want {
				t.Fatalf("status line %q, want %q", got, tc.want)
			}
		})
	}
}

func TestKeepAlive(t *testing.T) {
	s := startServer(t, primaryStatus())
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	t.Cleanup(client.CloseIdleConnections)
	conns := map[string]bool{}
	for range 5 {
		req, err := http.NewRequest(http.MethodGet, "http://"+s.Addr()+"/patroni", nil)
		if err != nil {
			t.Fatal(err)
		}
		var local string
		req = req.WithContext(withConnTrace(req.Context(), &local))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		conns[local] = true
	}
	if len(conns) != 1 {
		t.Fatalf("used %d connections for 5 requests, want 1 (keep-alive)", len(conns))
	}
}
