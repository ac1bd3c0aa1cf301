package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-ha/warden/internal/dcs"
	"github.com/warden-ha/warden/internal/dcs/dcstest"
)

// call is one request a fake member received.
type call struct {
	Member, Method, Path, Body, Auth string
}

// fakeCluster is three members (pg1 the leader) whose api_urls point at one httptest
// server per member, and an in-memory store holding Patroni's values.
type fakeCluster struct {
	t       *testing.T
	backend *dcstest.Backend
	mu      sync.Mutex
	calls   []call
	reply   func(c call) (int, string)
	servers map[string]*httptest.Server
}

func newFakeCluster(t *testing.T, reply func(c call) (int, string)) *fakeCluster {
	f := &fakeCluster{t: t, backend: dcstest.NewBackend(time.Now), reply: reply, servers: map[string]*httptest.Server{}}
	put := func(k, v string) { f.backend.Put("/service/batman/"+k, []byte(v)) }
	put("initialize", "7268616322854375442")
	put("leader", "pg1")
	put("config", `{"ttl":30,"loop_wait":10,"retry_timeout":10}`)
	put("status", `{"optime":67108960}`)
	for i, name := range []string{"pg1", "pg2", "pg3"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			u, p, _ := r.BasicAuth()
			c := call{Member: name, Method: r.Method, Path: r.URL.Path, Body: string(b)}
			if u != "" {
				c.Auth = u + ":" + p
			}
			f.mu.Lock()
			f.calls = append(f.calls, c)
			f.mu.Unlock()
			code, body := f.reply(c)
			w.WriteHeader(code)
			_, _ = io.WriteString(w, body)
		}))
		t.Cleanup(srv.Close)
		f.servers[name] = srv
		role := "replica"
		if name == "pg1" {
			role = "master"
		}
		host := "127.0.0." + string(rune('1'+i))
		put("members/"+name, member(host, 5432, role, "running", `,"xlog_location":67108960,"timeline":1`))
		f.setAPIURL(name, srv.URL+"/patroni")
	}
	return f
}

func (f *fakeCluster) setAPIURL(name, apiURL string) {
	key := "/service/batman/members/" + name
	v, _ := f.backend.Get(key)
	var m map[string]any
	_ = json.Unmarshal(v, &m)
	m["api_url"] = apiURL
	b, _ := json.Marshal(m)
	f.backend.Put(key, b)
}

func (f *fakeCluster) run(stdin string, args ...string) (string, error) {
	f.t.Helper()
	var out bytes.Buffer
	a := newApp(strings.NewReader(stdin), &out, &out, []string{"HOME=" + f.t.TempDir(), "PATRONI_SCOPE=batman", "PATRONI_ETCD3_HOSTS=127.0.0.1:1", "PATRONI_RESTAPI_USERNAME=admin", "PATRONI_RESTAPI_PASSWORD=s3cret"})
	a.now = func() time.Time { return time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC) }
	a.poll, a.backWait = time.Millisecond, 2*time.Second
	a.openStore = func(_ context.Context, s *settings, scope string) (dcs.Store, error) {
		return f.backend.Client("ctl", dcs.Options{Prefix: s.Namespace + scope + "/", Member: "patronictl", TTL: 30 * time.Second, RetryTimeout: time.Second}), nil
	}
	cmd := a.command()
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(f.t.Context())
	return out.String(), err
}

func (f *fakeCluster) requests() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

func mustContain(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

func TestSwitchoverForce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"success", 200, `Successfully switched over to "pg2"`, `2024-01-02 03:04:05.12345 Successfully switched over to "pg2"`},
		{"precondition", 412, "candidate does not exists", "Switchover failed, details: 412, candidate does not exists"},
		{"unknown", 503, "Switchover status unknown", "Switchover failed, details: 503, Switchover status unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeCluster(t, func(call) (int, string) { return tc.status, tc.body })
			out, err := f.run("", "switchover", "--candidate", "pg2", "--force")
			if err != nil {
				t.Fatal(err)
			}
			mustContain(t, out, "Current cluster topology\n+ Cluster: batman (7268616322854375442) ", tc.want)
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("requests: %+v", reqs)
			}
			want := call{Member: "pg1", Method: "POST", Path: "/switchover", Body: `{"candidate":"pg2","leader":"pg1","scheduled_at":null}`, Auth: "admin:s3cret"}
			if reqs[0] != want {
				t.Errorf("request %+v, want %+v", reqs[0], want)
			}
			if strings.Contains(out, "s3cret") {
				t.Error("password printed")
			}
		})
	}
}

func TestSwitchoverPromptsAndSchedule(t *testing.T) {
	f := newFakeCluster(t, func(call) (int, string) { return 202, "Switchover scheduled" })
	out, err := f.run("\npg3\n2030-01-01T10:00+00:00\ny\n", "switchover")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	mustContain(t, out,
		"Primary [pg1]: ",
		"Candidate ['pg2', 'pg3'] []: ",
		"When should the switchover take place (e.g. 2024-01-02T04:04 )  [now]: ",
		"Are you sure you want to schedule switchover of cluster batman at 2030-01-01T10:00:00+00:00, demoting current leader pg1? [y/N]: ",
		"2024-01-02 03:04:05.12345 Switchover scheduled")
	if r := f.requests(); len(r) != 1 || r[0].Body != `{"candidate":"pg3","leader":"pg1","scheduled_at":"2030-01-01T10:00:00+00:00"}` {
		t.Errorf("requests %+v", r)
	}
}

func TestSwitchoverErrors(t *testing.T) {
	f := newFakeCluster(t, func(call) (int, string) { return 200, "" })
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"switchover", "--leader", "pg2", "--force"}, "Member pg2 is not the leader of cluster batman"},
		{"", []string{"switchover", "--candidate", "pg9", "--force"}, "Member pg9 does not exist in cluster batman"},
		{"", []string{"switchover", "--candidate", "pg1", "--leader", "pg1", "--force"}, "Switchover target and source are the same."},
		{"", []string{"failover", "--force"}, "Failover could be performed only to a specific candidate"},
		{"\n\n\nn\n", []string{"switchover"}, "Aborting switchover"},
		{"", []string{"switchover", "--candidate", "pg2"}, "Aborted!"},
	} {
		_, err := f.run(tc.stdin, tc.args...)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
	if r := f.requests(); len(r) != 0 {
		t.Errorf("no request expected, got %+v", r)
	}
}

func TestSwitchoverFallsBackToDCS(t *testing.T) {
	f := newFakeCluster(t, func(call) (int, string) { return 200, "" })
	f.servers["pg1"].Close()
	out, err := f.run("", "switchover", "--candidate", "pg2", "--force")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, out, "2024-01-02 03:04:05.12345 Could not switchover using Patroni api, falling back to DCS")
	v, _ := f.backend.Get("/service/batman/failover")
	if string(v) != `{"leader":"pg1","member":"pg2"}` {
		t.Errorf("failover key %s", v)
	}
}

func TestFailoverPostsToLeader(t *testing.T) {
	f := newFakeCluster(t, func(call) (int, string) { return 200, `Successfully failed over to "pg3"` })
	out, err := f.run("", "failover", "--candidate", "pg3", "--force")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, out, `2024-01-02 03:04:05.12345 Successfully failed over to "pg3"`)
	if r := f.requests(); len(r) != 1 || r[0].Path != "/failover" || r[0].Member != "pg1" || r[0].Body != `{"candidate":"pg3","leader":"pg1","scheduled_at":null}` {
		t.Errorf("requests %+v", r)
	}
}

func TestRestart(t *testing.T) {
	codes := map[string]int{"pg1": 200, "pg2": 409, "pg3": 503}
	f := newFakeCluster(t, func(c call) (int, string) {
		if c.Method == "GET" {
			return 200, `{"state":"running","role":"primary","xlog":{"location":100}}`
		}
		return codes[c.Member], "restart failed"
	})
	out, err := f.run("", "restart", "batman", "--force", "--pending", "--timeout", "30")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, out, "Success: restart on member pg1\n",
		"Failed: another restart is already scheduled on member pg2\n",
		"Failed: restart for member pg3, status code=503, (restart failed)\n")
	for _, r := range f.requests() {
		if r.Method == "GET" {
			continue
		}
		if r.Method != "POST" || r.Path != "/restart" || r.Body != `{"restart_pending":true,"timeout":"30"}` {
			t.Errorf("request %+v", r)
		}
	}
}

func TestRestartPrompts(t *testing.T) {
	f := newFakeCluster(t, func(call) (int, string) { return 202, "Restart scheduled" })
	out, err := f.run("2030-01-01T10:00:00+00:00\ny\n15.2\n", "restart", "batman", "pg2")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	mustContain(t, out, "When should the restart take place (e.g. 2024-01-02T04:04)  [now]: ",
		"Are you sure you want to schedule restart of members pg2 at 2030-01-01T10:00:00+00:00? [y/N]: ",
		"Restart if the PostgreSQL version is less than provided (e.g. 9.5.2)  []: ",
		"Success: restart scheduled on member pg2\n")
	if r := f.requests(); len(r) != 1 || r[0].Body != `{"postgres_version":"15.2","schedule":"2030-01-01T10:00:00+00:00"}` {
		t.Errorf("requests %+v", r)
	}
}

func TestWhichMemberPrompt(t *testing.T) {
	f := newFakeCluster(t, func(call) (int, string) { return 200, "reinitialize started" })
	out, err := f.run("pg2\ny\n", "reinit", "batman")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	mustContain(t, out, "Which member do you want to reinitialize [pg2, pg3]? []: ",
		"Are you sure you want to reinitialize members pg2? [y/N]: ", "Success: reinitialize for member pg2\n")
	if r := f.requests(); len(r) != 1 || r[0].Path != "/reinitialize" || r[0].Body != `{"force":false}` {
		t.Errorf("requests %+v", r)
	}
	if _, err := f.run("", "reinit", "batman", "pg3", "--force", "--from-leader"); err != nil {
		t.Fatal(err)
	}
	if r := f.requests(); len(r) != 2 || r[1].Path != "/reinitialize" || r[1].Body != `{"force":true,"from_leader":true}` {
		t.Errorf("reinit --from-leader requests: %+v", r)
	}
	if _, err := f.run("pg1\n", "reinit", "batman"); err == nil || err.Error() != "pg1 is not a member of cluster" {
		t.Errorf("reinit of the leader: %v", err)
	}
}

func TestReinitWait(t *testing.T) {
	var polls int
	f := newFakeCluster(t, func(c call) (int, string) {
		if c.Method == "GET" {
			polls++
			if polls < 2 {
				return 200, `{"state":"creating replica"}`
			}
			return 200, `{"state":"running"}`
		}
		return 200, "reinitialize started"
	})
	out, err := f.run("", "reinit", "batman", "pg3", "--force", "--wait")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, out, "Success: reinitialize for member pg3\nWaiting for reinitialize to complete on: pg3\nReinitialize is completed on: pg3\n")
}

func TestReinitAlreadyInProgress(t *testing.T) {
	f := newFakeCluster(t, func(c call) (int, string) {
		if strings.Contains(c.Body, "true") {
			return 200, "reinitialize started"
		}
		return 503, "reinitialize already in progress"
	})
	out, err := f.run("y\ny\n", "reinit", "batman", "pg2")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	mustContain(t, out, "Failed: reinitialize for member pg2, status code=503, (reinitialize already in progress)\n",
		"Do you want to cancel it and reinitialize anyway? [y/N]: ", "Success: reinitialize for member pg2\n")
}

func TestReload(t *testing.T) {
	codes := map[string]int{"pg1": 202, "pg2": 200, "pg3": 500}
	f := newFakeCluster(t, func(c call) (int, string) { return codes[c.Member], "oops" })
	out, err := f.run("", "reload", "batman", "--force")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, out, "Reload request received for member pg1 and will be processed within 10 seconds\n",
		"No changes to apply on member pg2\n", "Failed: reload for member pg3, status code=500, (oops)\n")
	out, err = f.run("", "reload", "batman", "-r", "replica", "--force")
	if err != nil {
		t.Fatal(err)
	}
	// -r shows the table even with --force, as patronictl does.
	mustContain(t, out, "+ Cluster: batman", "No changes to apply on member pg2")
	if strings.Contains(out, "member pg1") {
		t.Errorf("leader reloaded with -r replica:\n%s", out)
	}
}

func TestPauseResume(t *testing.T) {
	f := newFakeCluster(t, func(c call) (int, string) { return 200, `{"pause":true}` })
	out, err := f.run("", "pause")
	if err != nil || out != "Success: cluster management is paused\n" {
		t.Fatalf("%v %q", err, out)
	}
	if r := f.requests(); len(r) != 1 || r[0].Member != "pg1" || r[0].Method != "PATCH" || r[0].Path != "/config" || r[0].Body != `{"pause":true}` {
		t.Errorf("requests %+v", r)
	}
	if _, err := f.run("", "resume"); err == nil || err.Error() != "Cluster is not paused" {
		t.Errorf("resume of a running cluster: %v", err)
	}
	f.backend.Put("/service/batman/config", []byte(`{"loop_wait":10,"pause":true}`))
	f.servers["pg1"].Close()
	out, err = f.run("", "resume")
	if err != nil || !strings.HasSuffix(out, "Success: cluster management is resumed\n") {
		t.Fatalf("%v %q", err, out)
	}
	r := f.requests()
	if last := r[len(r)-1]; last.Member != "pg2" || last.Body != `{"pause":null}` {
		t.Errorf("resume request %+v", last)
	}
}

func TestFlush(t *testing.T) {
	codes := map[string]int{"pg1": 200, "pg2": 404, "pg3": 200}
	f := newFakeCluster(t, func(c call) (int, string) {
		if c.Path == "/switchover" {
			return 200, "scheduled switchover deleted"
		}
		return codes[c.Member], "scheduled restart deleted"
	})
	out, err := f.run("", "flush", "batman", "restart", "--force")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, out, "Success: flush scheduled restart for member pg1\n", "No scheduled restart for member pg2\n")
	out, _ = f.run("", "flush", "batman", "switchover")
	if out != "No pending scheduled switchover\n" {
		t.Errorf("%q", out)
	}
	f.backend.Put("/service/batman/failover", []byte(`{"leader":"pg1","scheduled_at":"2030-01-01T10:00:00+00:00"}`))
	out, _ = f.run("", "flush", "batman", "switchover")
	if out != "Success: scheduled switchover deleted\n" {
		t.Errorf("%q", out)
	}
}

func TestVersionAsksMembers(t *testing.T) {
	f := newFakeCluster(t, func(c call) (int, string) {
		return 200, `{"state":"running","server_version":150004,"patroni":{"version":"3.0.2","scope":"batman"}}`
	})
	f.servers["pg3"].Close()
	out, err := f.run("", "version", "batman")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, out, "patronictl version 3.0.2\n\npg1: Patroni 3.0.2 PostgreSQL 15.4\npg2: Patroni 3.0.2 PostgreSQL 15.4\npg3: failed to get version: ")
}

func TestEditConfig(t *testing.T) {
	f := newFakeCluster(t, func(call) (int, string) { return 200, "" })
	out, err := f.run("", "edit-config", "-s", "loop_wait=5", "-p", "max_connections=200", "-s", "ttl=null", "-p", "auto_explain.log_min_duration=-1", "--force")
	if err != nil {
		t.Fatal(err)
	}
	want := `--- 
+++ 
@@ -1,3 +1,6 @@
-loop_wait: 10
+loop_wait: 5
+postgresql:
+  parameters:
+    auto_explain.log_min_duration: -1
+    max_connections: 200
 retry_timeout: 10
-ttl: 30
Configuration changed
`
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	v, _ := f.backend.Get("/service/batman/config")
	if string(v) != `{"loop_wait":5,"postgresql":{"parameters":{"auto_explain.log_min_duration":-1,"max_connections":200}},"retry_timeout":10}` {
		t.Errorf("config %s", v)
	}
	out, _ = f.run("", "edit-config", "-s", "loop_wait=5")
	if out != "Not changed\n" {
		t.Errorf("%q", out)
	}
	out, _ = f.run("pause: on\n", "edit-config", "--apply", "-", "-q")
	if out != "Use --force option to apply changes\n" {
		t.Errorf("%q", out)
	}
	out, _ = f.run("n\n", "edit-config", "-s", "pause=on")
	mustContain(t, out, "+pause: true\n", "Apply these changes? [y/N]: ")
	if strings.Contains(out, "Configuration changed") {
		t.Error("applied without confirmation")
	}
	out, err = f.run("ttl: 40\n", "edit-config", "--replace", "-", "--force")
	if err != nil || !strings.Contains(out, "+ttl: 40\n") {
		t.Fatalf("%v\n%s", err, out)
	}
	if v, _ := f.backend.Get("/service/batman/config"); string(v) != `{"ttl":40}` {
		t.Errorf("config after replace %s", v)
	}
	// Timings that break the rule are stored as written (as by patronictl); the agents run
	// with adjusted values, which edit-config and show-config name.
	out, err = f.run("ttl: 20\n", "edit-config", "--replace", "-", "--force")
	note := `# Violated the rule "loop_wait + 2*retry_timeout <= ttl", where ttl=20. Adjusting loop_wait from 10 to 1 and retry_timeout from 10 to 9 (in effect: ttl=20 loop_wait=1 retry_timeout=9)`
	if err != nil || !strings.Contains(out, note) || !strings.Contains(out, "Configuration changed") {
		t.Errorf("adjusted timings: %v\n%s", err, out)
	}
	if v, _ := f.backend.Get("/service/batman/config"); string(v) != `{"ttl":20}` {
		t.Errorf("config after an adjusted edit %s", v)
	}
	if out, err = f.run("", "show-config"); err != nil || out != "ttl: 20\n\n"+note+"\n" {
		t.Errorf("show-config = %v %q", err, out)
	}
}

func TestRemovePrompts(t *testing.T) {
	f := newFakeCluster(t, func(call) (int, string) { return 200, "" })
	if _, err := f.run("other\n", "remove", "batman"); err == nil || err.Error() != "Cluster names specified do not match" {
		t.Errorf("%v", err)
	}
	if _, err := f.run("batman\nYes I am aware\npg2\n", "remove", "batman"); err == nil || err.Error() != "You did not specify the current leader of the cluster" {
		t.Errorf("%v", err)
	}
	out, err := f.run("batman\nYes I am aware\npg1\n", "remove", "batman")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, out, "Please confirm the cluster name to remove: ",
		`You are about to remove all information in DCS for batman, please type: "Yes I am aware": `,
		"This cluster currently is healthy. Please specify the leader name to continue: ")
	if _, ok := f.backend.Get("/service/batman/leader"); ok {
		t.Error("cluster not removed")
	}
}

func TestFailoverWarnsOfLaggingCandidate(t *testing.T) {
	f := newFakeCluster(t, func(call) (int, string) { return 200, `Successfully switched over to "pg3"` })
	f.backend.Put("/service/batman/members/pg3", []byte(member("127.0.0.3", 5432, "replica", "running", `,"xlog_location":1000,"timeline":1`)))
	f.setAPIURL("pg3", f.servers["pg3"].URL+"/patroni")
	out, err := f.run("N\n", "switchover", "--leader", "pg1", "--candidate", "pg3", "--scheduled", "now")
	if err == nil || err.Error() != "Aborting switchover" {
		t.Fatalf("err = %v\n%s", err, out)
	}
	mustContain(t, out, "WARNING - candidate pg3 is 67107960 bytes behind the leader (maximum_lag_on_failover is 1048576); promoting it loses the transactions it has not received\n",
		"Are you sure you want to switchover cluster batman, demoting current leader pg1? [y/N]: ")
	if r := f.requests(); len(r) != 0 {
		t.Errorf("requests after abort: %+v", r)
	}
	out, err = f.run("", "switchover", "--leader", "pg1", "--candidate", "pg2", "--force")
	if err != nil || strings.Contains(out, "WARNING") {
		t.Errorf("candidate within the limit warned: %v\n%s", err, out)
	}
}

// Patroni 4.0.5: a cluster name with a slash still gets an editor file.
func TestEditorFileForClusterNameWithSlash(t *testing.T) {
	a := &app{environ: []string{"EDITOR=true"}}
	got, err := a.invokeEditor(context.Background(), "ttl: 30\n", "team/batman")
	if err != nil || got != "ttl: 30\n" {
		t.Fatalf("invokeEditor = %q, %v", got, err)
	}
}
