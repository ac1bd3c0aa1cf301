package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func with(st *Status, f func(*Status)) *Status { f(st); return st }

var statuses = map[string]func() *Status{
	"primary": primaryStatus,
	"replica": replicaStatus,
	"replica-lagging": func() *Status {
		return with(replicaStatus(), func(s *Status) {
			s.LeaderOptime = 64 << 20
			s.ReceivedLocation, s.ReplayedLocation = 20<<20, 16<<20
		})
	},
	"replica-noloadbalance": func() *Status {
		return with(replicaStatus(), func(s *Status) { s.Tags = map[string]any{"noloadbalance": true} })
	},
	"replica-sync": func() *Status {
		return with(replicaStatus(), func(s *Status) { s.SyncMode, s.SyncStandby = true, true })
	},
	"replica-quorum": func() *Status {
		return with(replicaStatus(), func(s *Status) { s.SyncMode, s.QuorumMode, s.SyncStandby = true, true, true })
	},
	"replica-quorum-dcs-down": func() *Status {
		return with(replicaStatus(), func(s *Status) {
			s.DCSAvailable, s.SyncMode, s.QuorumMode, s.SyncStandby = false, true, true, true
		})
	},
	"primary-lock-expired": func() *Status {
		return with(primaryStatus(), func(s *Status) { s.LockValidUntil = testNow.Add(-time.Second) })
	},
	"replica-dcs-down": func() *Status {
		return with(replicaStatus(), func(s *Status) {
			s.DCSAvailable, s.SyncMode, s.SyncStandby = false, true, true
		})
	},
	"primary-dcs-down-paused": func() *Status {
		return with(primaryStatus(), func(s *Status) {
			s.DCSAvailable, s.Pause, s.LockValidUntil = false, true, time.Time{}
		})
	},
	"standby-leader": func() *Status {
		return with(replicaStatus(), func(s *Status) {
			s.Role, s.StandbyCluster = "standby_leader", true
			s.LockValidUntil = testNow.Add(10 * time.Second)
		})
	},
	"primary-crash-recovery": func() *Status {
		return with(primaryStatus(), func(s *Status) { s.PostgresReachable, s.State = false, "starting" })
	},
	"replica-pg-down": func() *Status {
		return with(replicaStatus(), func(s *Status) { s.PostgresReachable = false })
	},
	"replica-stopped": func() *Status {
		return with(replicaStatus(), func(s *Status) { s.PostgresReachable, s.State = false, "stopped" })
	},
}

func TestHealthChecks(t *testing.T) {
	const ok, no = http.StatusOK, http.StatusServiceUnavailable
	cases := []struct {
		status string
		path   string
		want   int
	}{
		{"primary", "/", ok},
		{"primary", "/primary", ok},
		{"primary", "/master", ok},
		{"primary", "/OPTIONS/master", ok}, // HAProxy `option httpchk OPTIONS/master`
		{"primary", "/read-write", ok},
		{"primary", "/leader", ok},
		{"primary", "/standby-leader", no},
		{"primary", "/standby_leader", no},
		{"primary", "/replica", no},
		{"primary", "/read-only", ok},
		{"primary", "/health", ok},
		{"primary", "/sync", no},
		{"primary", "/synchronous", no},
		{"primary-crash-recovery", "/primary", no},
		{"primary-crash-recovery", "/leader", ok},
		{"primary", "/async", no},
		{"primary", "/asynchronous", no},
		{"primary", "/read-only-sync", ok},
		{"primary", "/read-only-synchronous", ok},
		{"primary", "/master?tag_datacenter=dc9", ok}, // leader paths ignore tag filters
		{"primary", "/health?tag_datacenter=dc9", no},
		{"primary", "/unknown", no},
		{"primary", "/metrics-typo", no},
		{"replica", "/", no},
		{"replica", "/primary", no},
		{"replica", "/master", no},
		{"replica", "/leader", no},
		{"replica", "/standby-leader", no},
		{"replica", "/replica", ok},
		{"replica", "/OPTIONS/replica", ok},
		{"replica", "/replica?lag=16MB", ok},
		{"replica", "/replica?lag=1024", no},
		{"replica", "/replica?lag=1kB", no},
		{"replica", "/replica?lag=garbage", ok},
		{"replica", "/replica?lag=", ok},
		{"replica", "/replica?tag_datacenter=dc2", ok},
		{"replica", "/replica?tag_datacenter=dc1", no},
		{"replica", "/replica?tag_nofailover=false", ok},
		{"replica", "/replica?tag_weight=3", ok},
		{"replica", "/replica?tag_missing=x", no},
		{"replica", "/replica?tag_datacenter=", ok},
		{"replica", "/read-only", ok},
		{"replica", "/read-write", no},
		{"replica", "/health", ok},
		{"replica", "/sync", no},
		{"replica", "/async", ok},
		{"replica", "/asynchronous", ok},
		{"replica", "/read-only-sync", no},
		{"replica", "/OPTIONS/sync", no}, // exact match, as in Patroni
		{"replica", "/sync/", no},
		{"replica-lagging", "/replica", ok},
		{"replica-lagging", "/replica?lag=16MB", no},
		{"replica-lagging", "/replica?lag=48MB", ok},
		{"replica-lagging", "/replica?lag=0x3000000", ok},
		{"replica-lagging", "/read-only?lag=1MB", no},
		{"replica-lagging", "/health?lag=1MB", ok},
		{"replica-noloadbalance", "/replica", no},
		{"replica-noloadbalance", "/read-only", no},
		{"replica-noloadbalance", "/async", no},
		{"replica-noloadbalance", "/health", ok},
		{"replica-sync", "/sync", ok},
		{"replica-sync", "/synchronous", ok},
		{"replica-sync", "/async", no},
		{"replica-sync", "/read-only-sync", ok},
		{"replica-sync", "/sync?tag_datacenter=dc2", ok},
		{"replica-sync", "/sync?tag_datacenter=dc1", no},
		{"replica-quorum", "/quorum", ok},
		{"replica-quorum", "/read-only-quorum", ok},
		{"replica-quorum", "/sync", no},
		{"replica-quorum", "/read-only-sync", no},
		{"replica-quorum", "/async", no},
		{"replica-quorum", "/read-only", ok},
		{"replica-sync", "/quorum", no},
		{"replica-sync", "/read-only-quorum", no},
		{"replica", "/quorum", no},
		{"replica", "/read-only-quorum", no},
		{"primary", "/read-only-quorum", ok},
		{"primary", "/quorum", no},
		{"replica-quorum-dcs-down", "/quorum", no},
		{"primary-lock-expired", "/master", no},
		{"primary-lock-expired", "/leader", no},
		{"primary-lock-expired", "/read-only", no},
		{"primary-lock-expired", "/replica", no},
		{"primary-lock-expired", "/health", ok},
		{"replica-dcs-down", "/replica", ok},
		{"replica-dcs-down", "/sync", no},
		{"replica-dcs-down", "/async", no},
		{"replica-dcs-down", "/read-only-sync", no},
		{"replica-dcs-down", "/master", no},
		{"primary-dcs-down-paused", "/master", ok},
		{"primary-dcs-down-paused", "/leader", ok},
		{"primary-dcs-down-paused", "/standby-leader", no},
		{"standby-leader", "/standby-leader", ok},
		{"standby-leader", "/standby_leader", ok},
		{"standby-leader", "/leader", ok},
		{"standby-leader", "/master", no},
		{"standby-leader", "/replica", no},
		{"standby-leader", "/read-only", ok},
		{"replica-pg-down", "/replica", no},
		{"replica-pg-down", "/health", no},
		{"replica-stopped", "/health", no},
		{"replica-stopped", "/replica", no},
	}
	for _, tc := range cases {
		for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodOptions} {
			t.Run(tc.status+" "+method+" "+tc.path, func(t *testing.T) {
				s, _ := newTestServer(t, statuses[tc.status]())
				rec := httptest.NewRecorder()
				s.Handler().ServeHTTP(rec, httptest.NewRequest(method, tc.path, nil))
				if rec.Code != tc.want {
					t.Fatalf("code = %d, want %d", rec.Code, tc.want)
				}
				if method != http.MethodGet {
					if rec.Body.Len() != 0 {
						t.Fatalf("%s body = %q, want empty", method, rec.Body.String())
					}
					return
				}
				if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
					t.Fatalf("Content-Type = %q", ct)
				}
				var body map[string]any
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
					t.Fatalf("body is not JSON: %v: %s", err, rec.Body.String())
				}
				if body["state"] == nil || body["patroni"] == nil {
					t.Fatalf("body lacks state/patroni: %s", rec.Body.String())
				}
			})
		}
	}
}

func TestProbes(t *testing.T) {
	cases := []struct {
		name   string
		status *Status
		path   string
		want   int
	}{
		{"liveness primary on time", primaryStatus(), "/liveness", 200},
		{"liveness primary overdue", with(primaryStatus(), func(s *Status) { s.NextLoop = testNow.Add(-31 * time.Second) }), "/liveness", 503},
		{"liveness replica tolerates 2 ttl", with(replicaStatus(), func(s *Status) { s.NextLoop = testNow.Add(-31 * time.Second) }), "/liveness", 200},
		{"liveness replica overdue", with(replicaStatus(), func(s *Status) { s.NextLoop = testNow.Add(-61 * time.Second) }), "/liveness", 503},
		{"liveness paused", with(primaryStatus(), func(s *Status) { s.NextLoop, s.Pause = time.Time{}, true }), "/liveness", 200},
		{"readiness leader", primaryStatus(), "/readiness", 200},
		{"readiness replica", replicaStatus(), "/readiness", 200},
		{"readiness replica without DCS", with(replicaStatus(), func(s *Status) { s.DCSAvailable = false }), "/readiness", 503},
		{"readiness stopped", with(replicaStatus(), func(s *Status) { s.State = "stopped" }), "/readiness", 503},
		// Patroni 4.1's replica check, used when ?lag= or ?mode= is given: the replica
		// replayed up to 98 MB and received 99 MB of the leader's 100 MB.
		{"readiness lag within", replicaStatus(), "/readiness?lag=2000000", 200},
		{"readiness lag exceeded", replicaStatus(), "/readiness?lag=1MB", 503},
		{"readiness mode write", replicaStatus(), "/readiness?lag=1000000&mode=write", 200},
		{"readiness mode apply", replicaStatus(), "/readiness?lag=1000000&mode=apply", 503},
		{"readiness maximum_lag_on_failover", with(replicaStatus(), func(s *Status) { s.MaximumLagOnFailover = 1 << 20 }), "/readiness?mode=apply", 503},
		{"readiness maximum_lag_on_failover met", with(replicaStatus(), func(s *Status) { s.MaximumLagOnFailover = 2_000_000 }), "/readiness?mode=apply", 200},
		{"readiness invalid lag uses maximum_lag_on_failover", with(replicaStatus(), func(s *Status) { s.MaximumLagOnFailover = 1 << 20 }), "/readiness?lag=abc", 503},
		{"readiness not streaming", with(replicaStatus(), func(s *Status) { s.ReplicationState = "in archive recovery" }), "/readiness?lag=1GB", 503},
		{"readiness not streaming, 3.0.2 rule", with(replicaStatus(), func(s *Status) { s.ReplicationState = "in archive recovery" }), "/readiness", 200},
		{"readiness lag without DCS", with(replicaStatus(), func(s *Status) { s.DCSAvailable = false }), "/readiness?lag=1GB", 503},
		{"readiness lag without DCS in failsafe", with(replicaStatus(), func(s *Status) { s.DCSAvailable, s.FailsafeActive = false, true }), "/readiness?lag=1GB", 200},
		{"readiness leader with lag", primaryStatus(), "/readiness?lag=0", 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newTestServer(t, tc.status)
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
			if rec.Code != tc.want || rec.Body.Len() != 0 {
				t.Fatalf("code = %d body %q, want %d and no body", rec.Code, rec.Body.String(), tc.want)
			}
		})
	}
}

func TestUnsupportedMethods(t *testing.T) {
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, "TRACE"} {
		for _, path := range []string{"/restart", "/nonexistent", "/patroni", "/config"} {
			t.Run(method+" "+path, func(t *testing.T) {
				s, _ := newTestServer(t, primaryStatus())
				rec := httptest.NewRecorder()
				s.Handler().ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader("{}")))
				if rec.Code != http.StatusNotImplemented || !strings.Contains(rec.Body.String(), "Unsupported method") {
					t.Fatalf("got %d %q", rec.Code, rec.Body.String())
				}
			})
		}
	}
}

func TestParseLag(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1", 1, true}, {"16MB", 16 << 20, true}, {" 16 MB ", 16 << 20, true}, {"1kB", 1024, true},
		{"0x400", 1024, true}, {"010", 8, true}, {"1.5kB", 1536, true}, {"2.5", 2, true},
		{"1e3", 1000, true}, {"-1", -1, true}, {"1TB", 1 << 40, true},
		{"abc", 0, false}, {"1XB", 0, false}, {"1 s", 0, false}, {"", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := parseLag(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("parseLag(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestLagging(t *testing.T) {
	cases := []struct {
		name             string
		optime, replayed uint64
		maxLag           int64
		want             bool
	}{
		{"no leader optime", 0, 0, 0, false},
		{"caught up", 100, 100, 0, false},
		{"behind within", 100, 90, 10, false},
		{"behind beyond", 100, 89, 10, true},
		{"ahead", 100, 200, 0, false},
		{"negative lag", 100, 100, -1, true},
		{"negative lag underflow", 1, 0, -5, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := lagging(tc.optime, tc.replayed, tc.maxLag); got != tc.want {
				t.Fatalf("lagging = %v, want %v", got, tc.want)
			}
		})
	}
}
