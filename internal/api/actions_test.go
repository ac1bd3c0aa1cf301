package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-ha/warden/internal/api/client"
	"github.com/warden-ha/warden/internal/cluster"
)

type fakeController struct {
	mu          sync.Mutex
	failover    []byte
	config      []byte
	configRev   int64
	restarts    []RestartConditions
	scheduled   bool
	reinitForce *bool
	peers       map[string]client.PeerStatus
	// failsafeFrom records POST /failsafe senders; failsafeRefuse answers as a primary.
	failsafeFrom   []string
	failsafeRefuse bool
}

func (f *fakeController) Restart(_ context.Context, c RestartConditions) Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.restarts = append(f.restarts, c)
	return Result{Code: 200, Message: "restarted successfully"}
}
func (f *fakeController) Reinitialize(_ context.Context, force bool) Result {
	f.reinitForce = &force
	return Result{Code: 200, Message: "reinitialize started"}
}
func (f *fakeController) Reload(context.Context) Result {
	return Result{Code: 202, Message: "reload scheduled"}
}
func (f *fakeController) ScheduleRestart(time.Time, RestartConditions) bool {
	if f.scheduled {
		return false
	}
	f.scheduled = true
	return true
}
func (f *fakeController) CancelScheduledRestart() bool {
	had := f.scheduled
	f.scheduled = false
	return had
}
func (f *fakeController) SetFailover(_ context.Context, v []byte, _ int64) (bool, error) {
	f.failover = v
	return true, nil
}
func (f *fakeController) SetConfig(_ context.Context, v []byte, rev int64) (bool, error) {
	if rev > 0 && rev != f.configRev {
		return false, nil
	}
	f.config = v
	return true, nil
}
func (f *fakeController) PeerStatus(_ context.Context, url string) (client.PeerStatus, error) {
	if p, ok := f.peers[url]; ok {
		return p, nil
	}
	return client.PeerStatus{}, context.DeadlineExceeded
}
func (f *fakeController) LoopWait() time.Duration { return time.Second }
func (f *fakeController) AcceptFailsafe(_ context.Context, sender string) Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failsafeFrom = append(f.failsafeFrom, sender)
	if f.failsafeRefuse {
		return Result{Code: 500, Message: "Running as a leader"}
	}
	return Result{Code: 200, Message: "Accepted"}
}

func actionServer(t *testing.T, auth bool) (*httptest.Server, *fakeSource, *fakeController) {
	t.Helper()
	src := &fakeSource{cluster: &cluster.Cluster{
		Leader:         &cluster.Leader{Name: "pg-1"},
		Members:        []cluster.Member{{Name: "pg-1", APIURL: "http://a/patroni"}, {Name: "pg-2", APIURL: "http://b/patroni"}},
		Config:         map[string]any{"ttl": float64(30), "loop_wait": float64(10), "retry_timeout": float64(10), "postgresql": map[string]any{"use_pg_rewind": true}},
		ConfigRevision: 7,
	}}
	src.st.Store(primaryStatus())
	ctrl := &fakeController{configRev: 7, peers: map[string]client.PeerStatus{"http://b/patroni": {Name: "pg-2", InRecovery: true, HasWAL: true}}}
	opts := Options{Controller: ctrl}
	if auth {
		opts.Username, opts.Password = "admin", "s3cret"
	}
	s := New(src, opts, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv, src, ctrl
}

func do(t *testing.T, method, url, body string, setAuth bool) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if setAuth {
		req.SetBasicAuth("admin", "s3cret")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// Timings that break ttl >= loop_wait + 2*retry_timeout are stored as written (Patroni 3
// and 4 both accept them); the answer names the values every agent runs with.
func TestPatchConfigAdjustedTimings(t *testing.T) {
	srv, _, ctrl := actionServer(t, false)
	for _, method := range []string{"PATCH", "PUT"} {
		req, _ := http.NewRequest(method, srv.URL+"/config", strings.NewReader(`{"ttl":20,"loop_wait":2,"retry_timeout":10}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := `299 warden "Violated the rule \"loop_wait + 2*retry_timeout <= ttl\", where ttl=20. Adjusting loop_wait from 2 to 1 and retry_timeout from 10 to 9 (in effect: ttl=20 loop_wait=1 retry_timeout=9)"`
		if resp.StatusCode != 200 || resp.Header.Get("Warning") != want {
			t.Errorf("%s = %d %s, Warning %q", method, resp.StatusCode, b, resp.Header.Get("Warning"))
		}
		if !strings.Contains(string(ctrl.config), `"loop_wait":2`) || !strings.Contains(string(b), `"loop_wait":2`) {
			t.Errorf("%s stored %s, answered %s: want the values as written", method, ctrl.config, b)
		}
	}
	if code, _ := do(t, "PATCH", srv.URL+"/config", `{"ttl":30,"loop_wait":10,"retry_timeout":10}`, false); code != 200 {
		t.Errorf("consistent timings = %d", code)
	}
}

func TestActionValidation(t *testing.T) {
	srv, _, ctrl := actionServer(t, false)
	cases := []struct {
		name, method, path, body string
		code                     int
		msg                      string
	}{
		{"failover needs a candidate", "POST", "/failover", `{}`, 400, "Failover could be performed only to a specific candidate"},
		{"switchover needs a leader", "POST", "/switchover", `{"candidate":"pg-2"}`, 400, "Switchover could be performed only from a specific leader"},
		{"not an object", "POST", "/switchover", `[1]`, 400, "the request body must be a JSON object"},
		{"wrong type", "POST", "/switchover", `{"leader":5}`, 400, "leader must be a string"},
		{"leader mismatch", "POST", "/switchover", `{"leader":"pg-9","candidate":"pg-2"}`, 412, "leader name does not match"},
		{"unknown candidate", "POST", "/failover", `{"candidate":"pg-9"}`, 412, "candidate does not exists"},
		{"past schedule", "POST", "/switchover", `{"leader":"pg-1","scheduled_at":"2001-01-01T00:00:00Z"}`, 422, "Cannot schedule switchover in the past"},
		{"garbage schedule", "POST", "/switchover", `{"leader":"pg-1","scheduled_at":"tomorrow"}`, 422, "Unable to parse scheduled timestamp. It should be in an unambiguous format, e.g. ISO 8601"},
		{"scheduled", "POST", "/switchover", `{"leader":"pg-1","candidate":"pg-2","scheduled_at":"2099-01-01T00:00:00+00:00"}`, 202, "Switchover scheduled"},
		{"restart: bad role", "POST", "/restart", `{"role":"boss"}`, 400, "PostgreSQL role should be either primary or replica"},
		{"restart: unknown filter", "POST", "/restart", `{"colour":"red"}`, 400, "Unknown filter for the scheduled restart: colour"},
		{"restart: bad timeout", "POST", "/restart", `{"timeout":-1}`, 400, "Timeout should be a positive number of seconds"},
		{"restart now", "POST", "/restart", `{"role":"primary"}`, 200, "restarted successfully"},
		{"restart scheduled", "POST", "/restart", `{"schedule":"2099-01-01T00:00:00+00:00"}`, 202, "Restart scheduled"},
		{"restart scheduled twice", "POST", "/restart", `{"schedule":"2099-01-01T00:00:00+00:00"}`, 409, "Another restart is already scheduled"},
		{"cancel scheduled restart", "DELETE", "/restart", ``, 200, "scheduled restart deleted"},
		{"nothing to cancel", "DELETE", "/restart", ``, 404, "no restarts are scheduled"},
		{"reload", "POST", "/reload", ``, 202, "reload scheduled"},
		{"reinitialize", "POST", "/reinitialize", `{"force":true}`, 200, "reinitialize started"},
		{"reinitialize: bad force", "POST", "/reinitialize", `{"force":"yes"}`, 400, "force must be true or false"},
		{"config: a value with a line break refused", "PATCH", "/config", `{"postgresql":{"parameters":{"work_mem":"1MB\nfsync = off"}}}`, 400, "refusing the configuration: postgresql.parameters.work_mem contains a line break or NUL"},
		{"unknown unsafe path", "POST", "/nothing", `{}`, 501, `Unsupported method ("POST")`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, msg := do(t, tc.method, srv.URL+tc.path, tc.body, false)
			if code != tc.code || !strings.HasPrefix(msg, tc.msg) {
				t.Errorf("%s %s %s = %d %q, want %d %q", tc.method, tc.path, tc.body, code, msg, tc.code, tc.msg)
			}
		})
	}
	if got := string(ctrl.failover); got != `{"leader":"pg-1","member":"pg-2","scheduled_at":"2099-01-01T00:00:00Z"}` {
		t.Errorf("failover key = %s", got)
	}
	if ctrl.reinitForce == nil || !*ctrl.reinitForce {
		t.Error("reinitialize did not pass force")
	}
}

func TestOversizedBody(t *testing.T) {
	srv, _, _ := actionServer(t, false)
	code, _ := do(t, "PATCH", srv.URL+"/config", `{"a":"`+strings.Repeat("x", 70<<10)+`"}`, false)
	if code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d", code)
	}
}

func TestPatchConfigMergesAndDeletes(t *testing.T) {
	srv, _, ctrl := actionServer(t, false)
	code, body := do(t, "PATCH", srv.URL+"/config", `{"loop_wait":5,"postgresql":{"use_pg_rewind":null,"parameters":{"work_mem":"8MB"}},"pause":true}`, false)
	if code != 200 {
		t.Fatalf("PATCH /config = %d %s", code, body)
	}
	var got map[string]any
	if err := json.Unmarshal(ctrl.config, &got); err != nil {
		t.Fatal(err)
	}
	pg := got["postgresql"].(map[string]any)
	if got["loop_wait"] != float64(5) || got["pause"] != true || pg["use_pg_rewind"] != nil || pg["parameters"].(map[string]any)["work_mem"] != "8MB" {
		t.Errorf("merged config = %v", got)
	}
}

func TestUnsafeMethodsNeedAuth(t *testing.T) {
	srv, _, _ := actionServer(t, true)
	if code, msg := do(t, "POST", srv.URL+"/reload", "", false); code != 401 || msg != "no auth header received" {
		t.Errorf("no auth: %d %q", code, msg)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/reload", nil)
	req.SetBasicAuth("admin", "wrong")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Basic realm="Patroni"` {
		t.Errorf("wrong password: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if code, _ := do(t, "POST", srv.URL+"/reload", "", true); code != 202 {
		t.Errorf("authorized reload: %d", code)
	}
	if code, _ := do(t, "GET", srv.URL+"/patroni", "", false); code != 200 {
		t.Errorf("GET needs no auth: %d", code)
	}
}

func TestMetrics(t *testing.T) {
	srv, _, _ := actionServer(t, false)
	code, body := do(t, "GET", srv.URL+"/metrics", "", false)
	if code != 200 {
		t.Fatalf("GET /metrics = %d", code)
	}
	for _, want := range []string{
		`patroni_primary{name="pg-1",scope="batman"} 1`,
		`patroni_version{name="pg-1",scope="batman"} 30002`,
		`# TYPE patroni_xlog_location counter`,
		`patroni_xlog_location{name="pg-1",scope="batman"} 1e+08`,
		`patroni_postgres_timeline{name="pg-1",scope="batman"} 2`,
		`# TYPE patroni_postgres_timeline gauge`,
		`# TYPE patroni_postgres_state gauge`,
		`patroni_postgres_state{name="pg-1",scope="batman"} 5`,
		`# HELP patroni_postgres_state Numeric representation of Postgres state. Values: 0=initializing new cluster, 1=initdb failed,`,
		`patroni_replica{name="pg-1",scope="batman"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// POST /failsafe answers with the bare text Patroni senders compare ("Accepted"), and
// passes the sender's name to the agent, which decides.
func TestPostFailsafe(t *testing.T) {
	srv, _, ctrl := actionServer(t, false)
	body := `{"name":"pg-1","conn_url":"postgres://a:5432/postgres","api_url":"http://a:8008/patroni"}`
	cases := []struct {
		name, body string
		refuse     bool
		code       int
		msg        string
	}{
		{"accepted", body, false, 200, "Accepted"},
		{"refused by the agent", body, true, 500, "Running as a leader"},
		{"no body", ``, false, 400, "a JSON object is required"},
		{"no name", `{"api_url":"http://a:8008/patroni"}`, false, 400, "name is required"},
		{"name not a string", `{"name":1}`, false, 400, "name must be a string"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctrl.mu.Lock()
			ctrl.failsafeRefuse = tc.refuse
			ctrl.mu.Unlock()
			req, err := http.NewRequest("POST", srv.URL+"/failsafe", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code || !strings.HasPrefix(string(b), tc.msg) {
				t.Errorf("POST /failsafe %s = %d %q, want %d %q", tc.body, resp.StatusCode, b, tc.code, tc.msg)
			}
			if tc.code == 200 && string(b) != "Accepted" {
				t.Errorf("answer %q is not exactly Accepted", b)
			}
			// Patroni 4.0's lsn header: the member's WAL position, on acceptance only.
			if want := map[bool]string{true: "100000000", false: ""}[tc.code == 200]; resp.Header.Get("lsn") != want {
				t.Errorf("lsn header %q, want %q", resp.Header.Get("lsn"), want)
			}
		})
	}
	ctrl.mu.Lock()
	defer ctrl.mu.Unlock()
	if len(ctrl.failsafeFrom) != 2 || ctrl.failsafeFrom[0] != "pg-1" {
		t.Errorf("agent asked for %v, want pg-1 twice", ctrl.failsafeFrom)
	}
}
