package ctl

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/warden-ha/warden/internal/cluster"
)

// fakeMembers answers GET /patroni, POST /restart and POST /switchover like three agents
// (pg1 the primary) would, with per-member state a test can shape.
type fakeMembers struct {
	mu       sync.Mutex
	leader   string
	state    map[string]string // "running" unless set
	pending  map[string]int    // restarts still needed before pending_restart clears
	replayed uint64
	restarts []string
	// frozen keeps publishing the status from before its restarts.
	frozen string
}

func newFakeMembers() *fakeMembers {
	return &fakeMembers{leader: "pg1", state: map[string]string{}, pending: map[string]int{}, replayed: 500}
}

func (f *fakeMembers) reply(c call) (int, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch c.Method + " " + c.Path {
	case "POST /restart":
		f.restarts = append(f.restarts, c.Member)
		if f.pending[c.Member] > 0 {
			f.pending[c.Member]--
		}
		return 200, "restarted successfully"
	case "POST /switchover":
		f.leader = "pg2"
		return 200, `Successfully switched over to "pg2"`
	case "GET /patroni":
		state := f.state[c.Member]
		if state == "" {
			state = "running"
		}
		started := 0
		for _, m := range f.restarts {
			if m == c.Member && m != f.frozen {
				started++
			}
		}
		if c.Member == f.leader {
			return 200, fmt.Sprintf(`{"state":%q,"role":"primary","postmaster_start_time":"%d","pending_restart":%t,"xlog":{"location":400}}`, state, started, f.pending[c.Member] > 0)
		}
		return 200, fmt.Sprintf(`{"state":%q,"role":"replica","postmaster_start_time":"%d","pending_restart":%t,"replication_state":"streaming","xlog":{"received_location":%d,"replayed_location":%d}}`,
			state, started, f.pending[c.Member] > 0, f.replayed, f.replayed)
	}
	return 404, "not found"
}

// steps lists the requests as "METHOD /path member", GETs between the same POSTs folded.
func steps(calls []call) []string {
	var out []string
	for _, c := range calls {
		s := c.Method + " " + c.Path + " " + c.Member
		if c.Method == "GET" && len(out) > 0 && out[len(out)-1] == s {
			continue
		}
		out = append(out, s)
	}
	return out
}

func TestRollingOrder(t *testing.T) {
	ms := []cluster.Member{{Name: "c"}, {Name: "leader"}, {Name: "a"}, {Name: "b"}}
	var got []string
	for _, m := range rollingOrder("leader", ms) {
		got = append(got, m.Name)
	}
	if want := []string{"a", "b", "c", "leader"}; !reflect.DeepEqual(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

func TestRollingRestartReplicasFirstEachBackBeforeTheNext(t *testing.T) {
	fm := newFakeMembers()
	f := newFakeCluster(t, fm.reply)
	out, err := f.run("", "restart", "batman", "--force")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := []string{
		"GET /patroni pg2", "POST /restart pg2", "GET /patroni pg2",
		"GET /patroni pg3", "POST /restart pg3", "GET /patroni pg3",
		"GET /patroni pg1", "POST /restart pg1", "GET /patroni pg1",
		// nothing pending on the replicas afterwards
		"GET /patroni pg2", "GET /patroni pg3",
	}
	if got := steps(f.requests()); !reflect.DeepEqual(got, want) {
		t.Errorf("requests\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if i, j := strings.Index(out, "Success: restart on member pg3"), strings.Index(out, "Success: restart on member pg1"); i < 0 || j < i {
		t.Errorf("output order:\n%s", out)
	}
}

func TestRollingRestartStopsBeforeThePrimaryWhenAReplicaDoesNotComeBack(t *testing.T) {
	fm := newFakeMembers()
	fm.state["pg2"] = "starting"
	f := newFakeCluster(t, fm.reply)
	out, err := f.run("", "restart", "batman", "--force")
	if err == nil || !strings.Contains(err.Error(), "member pg2 is not running and streaming") {
		t.Fatalf("error %v\n%s", err, out)
	}
	if !reflect.DeepEqual(fm.restarts, []string{"pg2"}) {
		t.Errorf("restarted %v, want only pg2", fm.restarts)
	}
}

// The status a member published before its restart does not count as back.
func TestRollingRestartWaitsForANewPostmaster(t *testing.T) {
	fm := newFakeMembers()
	fm.frozen = "pg2"
	f := newFakeCluster(t, fm.reply)
	out, err := f.run("", "restart", "batman", "--force")
	if err == nil || !strings.Contains(err.Error(), "member pg2 is not running and streaming") {
		t.Fatalf("error %v\n%s", err, out)
	}
	if !reflect.DeepEqual(fm.restarts, []string{"pg2"}) {
		t.Errorf("restarted %v, want only pg2", fm.restarts)
	}
}

// A lowered max_connections leaves the replicas restarted before the primary pending
// (they start with the primary's higher value): they are restarted once more after they
// replayed the primary's restart.
func TestRollingRestartRestartsStillPendingReplicasAfterThePrimary(t *testing.T) {
	fm := newFakeMembers()
	fm.pending["pg2"], fm.pending["pg3"], fm.pending["pg1"] = 2, 1, 1
	fm.replayed = 400
	f := newFakeCluster(t, fm.reply)
	out, err := f.run("", "restart", "batman", "--force", "--pending")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if want := []string{"pg2", "pg3", "pg1", "pg2"}; !reflect.DeepEqual(fm.restarts, want) {
		t.Errorf("restarted %v, want %v", fm.restarts, want)
	}
	mustContain(t, out, "Member pg2 still has a pending restart after the primary's; restarting it again once it has replayed the primary's restart\n")
	for _, c := range f.requests() {
		if c.Method == "POST" && c.Body != `{"restart_pending":true}` {
			t.Errorf("request %+v", c)
		}
	}
}

func TestRollingRestartSwitchover(t *testing.T) {
	fm := newFakeMembers()
	f := newFakeCluster(t, fm.reply)
	out, err := f.run("", "restart", "batman", "--force", "--switchover")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if want := []string{"pg2", "pg3"}; !reflect.DeepEqual(fm.restarts, want) {
		t.Errorf("restarted %v, want %v: the old primary restarts through the switchover", fm.restarts, want)
	}
	var sw []call
	for _, c := range f.requests() {
		if c.Path == "/switchover" {
			sw = append(sw, c)
		}
	}
	if len(sw) != 1 || sw[0].Member != "pg1" || sw[0].Body != `{"candidate":"pg2","leader":"pg1","scheduled_at":null}` {
		t.Errorf("switchover requests %+v", sw)
	}
	mustContain(t, out, `2024-01-02 03:04:05.12345 Successfully switched over to "pg2"`, "Success: member pg1 restarted as a replica by the switchover\n")

	if _, err := f.run("", "restart", "batman", "pg2", "--force", "--switchover", "--scheduled", "2030-01-01T10:00+00:00"); err == nil || err.Error() != "--switchover cannot be combined with --scheduled" {
		t.Errorf("scheduled switchover restart: %v", err)
	}
	if _, err := f.run("", "restart", "batman", "--force", "--switchover", "--role", "replica"); err == nil || !strings.Contains(err.Error(), "the leader is not among the members") {
		t.Errorf("--switchover without the leader: %v", err)
	}
}
