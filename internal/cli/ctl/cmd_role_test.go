package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/dcs"
)

// setMember rewrites fields of a member key in the fake cluster's store.
func (f *fakeCluster) setMember(name string, fields map[string]any) {
	key := "/service/batman/members/" + name
	v, _ := f.backend.Get(key)
	var m map[string]any
	_ = json.Unmarshal(v, &m)
	for k, x := range fields {
		m[k] = x
	}
	b, _ := json.Marshal(m)
	f.backend.Put(key, b)
}

// Patroni 4.1's demote-cluster: PATCH /config on the leader with standby_cluster built
// from the flags, then wait for a running standby leader and a running former leader.
func TestDemoteCluster(t *testing.T) {
	var f *fakeCluster
	f = newFakeCluster(t, func(c call) (int, string) {
		if c.Method == "PATCH" {
			f.setMember("pg1", map[string]any{"role": "standby_leader", "state": "running"})
		}
		return 200, "{}"
	})
	if _, err := f.run("", "demote-cluster", "batman"); err == nil || err.Error() != "At least --host, --port or --restore-command should be specified" {
		t.Errorf("no remote: %v", err)
	}
	out, err := f.run("n\n", "demote-cluster", "--host", "10.0.0.5", "--port", "5433")
	if err == nil || err.Error() != "Aborted cluster demotion" {
		t.Errorf("declined: %v", err)
	}
	mustContain(t, out, "Current cluster topology\n+ Cluster: batman", "Are you sure you want to demote batman cluster? [y/N]: ")
	if len(f.requests()) != 0 {
		t.Fatalf("requests after abort: %+v", f.requests())
	}
	out, err = f.run("y\n", "demote-cluster", "batman", "--host", "10.0.0.5", "--port", "5433", "--primary-slot-name", "dr", "--restore-command", "cp /a/%f %p")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	r := f.requests()
	if len(r) != 1 || r[0].Member != "pg1" || r[0].Method != "PATCH" || r[0].Path != "/config" ||
		r[0].Body != `{"standby_cluster":{"host":"10.0.0.5","port":5433,"primary_slot_name":"dr","restore_command":"cp /a/%f %p"}}` {
		t.Errorf("requests: %+v", r)
	}
	mustContain(t, out, "[y/N]: 2024-01-02 03:04:05 cluster is successfully demoted\n+ Cluster: batman")
	if _, err := f.run("", "demote-cluster", "--host", "h", "--force"); err == nil || err.Error() != "Cluster is already in the required state" {
		t.Errorf("second demotion: %v", err)
	}
}

func TestPromoteCluster(t *testing.T) {
	var f *fakeCluster
	f = newFakeCluster(t, func(c call) (int, string) {
		if c.Method == "PATCH" {
			if c.Body != `{"standby_cluster":null}` {
				return 400, "bad body " + c.Body
			}
			f.setMember("pg1", map[string]any{"role": "primary"})
		}
		return 200, "{}"
	})
	// pg1 is a Patroni 3 leader ("master"): already a primary.
	if _, err := f.run("", "promote-cluster", "--force"); err == nil || err.Error() != "Cluster is already in the required state" {
		t.Errorf("promote a primary: %v", err)
	}
	f.setMember("pg1", map[string]any{"role": "standby_leader"})
	out, err := f.run("", "promote-cluster", "batman", "--force")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	mustContain(t, out, "2024-01-02 03:04:05 cluster is successfully promoted\n")
	f.backend.Put("/service/batman/leader", []byte(""))
	if _, err := f.run("", "promote-cluster", "--force"); err == nil || err.Error() != "Cluster has no leader, promotion is not possible" {
		t.Errorf("no leader: %v", err)
	}
}

func TestChangeClusterRoleRefused(t *testing.T) {
	f := newFakeCluster(t, func(call) (int, string) { return 409, "Conflict" })
	_, err := f.run("", "demote-cluster", "--host", "h", "--force")
	if err == nil || err.Error() != "Failed to demote batman cluster: /config PATCH status code=409, (Conflict)" {
		t.Errorf("refused PATCH: %v", err)
	}
}

// seqStore hands out one cluster snapshot per Load.
type seqStore struct {
	dcs.Store
	seq []*cluster.Cluster
}

func (s *seqStore) Load(context.Context) (*cluster.Cluster, error) {
	c := s.seq[0]
	if len(s.seq) > 1 {
		s.seq = s.seq[1:]
	}
	return c, nil
}

// While it waits, demote-cluster prints what it sees, in patronictl's words.
func TestWaitClusterRoleProgress(t *testing.T) {
	snap := func(leader string, members ...cluster.Member) *cluster.Cluster {
		c := &cluster.Cluster{Members: members}
		if leader != "" {
			c.Leader = &cluster.Leader{Name: leader}
		}
		return c
	}
	store := &seqStore{seq: []*cluster.Cluster{
		snap("", cluster.Member{Name: "pg1", Role: cluster.RolePrimary, State: "stopped"}),
		snap("pg2", cluster.Member{Name: "pg1", State: "starting"}, cluster.Member{Name: "pg2", Role: cluster.RoleStandbyLeader, State: "running"}),
		snap("pg2", cluster.Member{Name: "pg1", Role: cluster.RoleReplica, State: "running"}, cluster.Member{Name: "pg2", Role: cluster.RoleStandbyLeader, State: "running"}),
	}}
	var out bytes.Buffer
	a := &app{out: &out, now: func() time.Time { return time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC) }, poll: time.Millisecond}
	if _, err := a.waitClusterRole(t.Context(), store, "pg1", "demot", true); err != nil {
		t.Fatal(err)
	}
	want := "2024-01-02 03:04:05 cluster is unlocked: True, leader role: None, leader state: None\n" +
		"2024-01-02 03:04:05 cluster is unlocked: False, leader role: standby_leader, leader state: running, previous leader state: 'starting'\n" +
		"2024-01-02 03:04:05 cluster is successfully demoted\n"
	if got := out.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
