package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-ha/warden/internal/api/client"
	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/config"
)

// The request fuzzers drive the real handlers with arbitrary bodies against a controller
// that records every state change and acts like a healthy agent (a written failover key
// moves the leader). For any body: no panic, never a 5xx, and a 4xx changes nothing.

type recordingController struct {
	mu      sync.Mutex
	src     *fakeSource
	changes []string
	config  []byte
}

func (c *recordingController) change(what string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.changes = append(c.changes, what)
}

func (c *recordingController) Restart(context.Context, RestartConditions) Result {
	c.change("restart")
	return Result{Code: 200, Message: "restarted successfully"}
}
func (c *recordingController) Reinitialize(context.Context, bool) Result {
	c.change("reinitialize")
	return Result{Code: 200, Message: "reinitialize started"}
}
func (c *recordingController) Reload(context.Context) Result {
	c.change("reload")
	return Result{Code: 202, Message: "reload scheduled"}
}
func (c *recordingController) ScheduleRestart(time.Time, RestartConditions) bool {
	c.change("schedule-restart")
	return true
}
func (c *recordingController) CancelScheduledRestart() bool { return false }

// SetFailover plays the agent: an immediate request moves the leader to the candidate
// (or to any other member), so the handler's wait ends at its first poll.
func (c *recordingController) SetFailover(_ context.Context, v []byte, _ int64) (bool, error) {
	c.change("failover")
	f := cluster.DecodeFailover(v)
	if f.ScheduledAt != "" {
		return true, nil
	}
	cl := *c.src.cluster
	next := f.Candidate
	if next == "" {
		for _, m := range cl.Members {
			if m.Name != cl.LeaderName() {
				next = m.Name
			}
		}
	}
	cl.Leader = &cluster.Leader{Name: next}
	c.src.cluster = &cl
	return true, nil
}
func (c *recordingController) SetConfig(_ context.Context, v []byte, _ int64) (bool, error) {
	c.change("config")
	c.config = v
	return true, nil
}
func (c *recordingController) PeerStatus(context.Context, string) (client.PeerStatus, error) {
	return client.PeerStatus{Name: "pg-2", InRecovery: true, HasWAL: true}, nil
}
func (c *recordingController) LoopWait() time.Duration { return time.Second }
func (c *recordingController) AcceptFailsafe(context.Context, string) Result {
	c.change("failsafe")
	return Result{Code: 200, Message: "Accepted"}
}

func fuzzServer() (*Server, *recordingController) {
	src := &fakeSource{cluster: &cluster.Cluster{
		Leader: &cluster.Leader{Name: "pg-1"},
		Members: []cluster.Member{{Name: "pg-1", APIURL: "http://a/patroni"}, {Name: "pg-2", APIURL: "http://b/patroni"},
			{Name: "pg-3", APIURL: "http://c/patroni"}},
		Config:         map[string]any{"ttl": float64(30), "loop_wait": float64(10), "retry_timeout": float64(10), "postgresql": map[string]any{"use_pg_rewind": true}},
		ConfigRevision: 7,
	}}
	src.st.Store(primaryStatus())
	ctrl := &recordingController{src: src}
	s := New(src, Options{Controller: ctrl, DCSTimeout: time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.now = func() time.Time { return testNow }
	return s, ctrl
}

// fuzzRequest sends body and checks the invariants; it returns the status and changes.
func fuzzRequest(t *testing.T, method, path, body string) (int, []string, *recordingController) {
	t.Helper()
	s, ctrl := fuzzServer()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	code := rec.Code
	if code >= 500 {
		t.Fatalf("%s %s %q = %d %q: a request body must never cause a server error", method, path, body, code, rec.Body.String())
	}
	if code >= 400 && len(ctrl.changes) > 0 {
		t.Fatalf("%s %s %q = %d but changed %v", method, path, body, code, ctrl.changes)
	}
	return code, ctrl.changes, ctrl
}

func FuzzSwitchoverBody(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `[1]`, `null`, `{"leader":"pg-1"}`, `{"leader":"pg-1","candidate":"pg-2"}`,
		`{"leader":"pg-1","member":"pg-3"}`, `{"candidate":"pg-2"}`, `{"leader":5}`, `{"leader":"pg-9","candidate":"pg-2"}`,
		`{"leader":"pg-1","candidate":"pg-1"}`, `{"leader":"pg-1","scheduled_at":"2099-01-01T00:00:00+00:00"}`,
		`{"leader":"pg-1","scheduled_at":"2001-01-01T00:00:00Z"}`, `{"leader":"pg-1","scheduled_at":"2099-01-01T00:00:00"}`,
		`{"leader":"pg-1","candidate":"pg-2","scheduled_at":"tomorrow"}`, `{"leader":"","candidate":""}`,
		`{"leader":"pg-1","candidate":"pg-2","leader":"pg-2"}`, "{\"leader\":\"pg-1\\u0000\"}", `{"a":` + strings.Repeat("[", 10000),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range []string{"/switchover", "/failover"} {
			code, changes, _ := fuzzRequest(t, "POST", path, body)
			if (code == 200 || code == 202) && len(changes) != 1 {
				t.Fatalf("POST %s %q = %d with changes %v, want exactly one failover key write", path, body, code, changes)
			}
		}
	})
}

func FuzzRestartBody(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `[]`, `{"role":"primary"}`, `{"role":"master"}`, `{"role":"boss"}`, `{"role":5}`,
		`{"postgres_version":"15.4"}`, `{"postgres_version":"15.4.1.2"}`, `{"postgres_version":"-1"}`,
		`{"restart_pending":true}`, `{"restart_pending":"yes"}`, `{"timeout":30}`, `{"timeout":"30s"}`, `{"timeout":-1}`,
		`{"timeout":"1e400"}`, `{"schedule":"2099-01-01T00:00:00+00:00"}`, `{"schedule":"2001-01-01T00:00:00Z"}`,
		`{"schedule":5}`, `{"colour":"red"}`, `{"role":"replica","schedule":"2099-01-01T00:00:00Z","timeout":1}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		code, changes, _ := fuzzRequest(t, "POST", "/restart", body)
		if code < 300 && len(changes) != 1 {
			t.Fatalf("POST /restart %q = %d with changes %v", body, code, changes)
		}
		fuzzRequest(t, "POST", "/reinitialize", body)
	})
}

// FuzzPatchConfig: whatever the body, a configuration that is written is one every agent
// accepts (the timing invariants hold).
func FuzzPatchConfig(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `[]`, `null`, `{"ttl":5}`, `{"loop_wait":5}`, `{"ttl":"30"}`, `{"ttl":null}`, `{"retry_timeout":1e308}`,
		`{"postgresql":{"parameters":{"work_mem":"8MB"}}}`, `{"postgresql":null}`, `{"postgresql":{"use_pg_rewind":null}}`,
		`{"pause":true}`, `{"synchronous_mode":"on"}`, `{"maximum_lag_on_failover":-1}`, `{"ttl":30,"loop_wait":29,"retry_timeout":1}`,
		`{"postgresql":{"parameters":{"max_connections":"x'\n"}}}`, `{"a":{"b":{"c":{"d":null}}}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, method := range []string{"PATCH", "PUT"} {
			code, _, ctrl := fuzzRequest(t, method, "/config", body)
			if ctrl.config == nil {
				continue
			}
			var raw map[string]any
			if err := json.Unmarshal(ctrl.config, &raw); err != nil {
				t.Fatalf("%s /config %q = %d wrote a value that is not a JSON object: %s", method, body, code, ctrl.config)
			}
			if d, _ := config.ParseDynamic(raw); d.TTL < d.LoopWait+2*d.RetryTimeout {
				t.Fatalf("%s /config %q = %d: timings in effect break the rule: %+v", method, body, code, d)
			}
		}
	})
}
