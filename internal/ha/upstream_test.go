package ha

import (
	"testing"

	"github.com/warden-ha/warden/internal/cluster"
)

// cascade is a snapshot with leader pg-0 and the given members, each "name" or
// "name>upstream" (replicatefrom tag), all running and streaming.
func cascade(members ...string) *cluster.Cluster {
	c := snapshot("pg-0", "pg-0")
	c.Members[0].Role = cluster.RolePrimary
	for _, spec := range members {
		m := cluster.Member{Name: spec, State: "running", Role: cluster.RoleReplica, ReplicationState: "streaming", Tags: map[string]any{}}
		for i := range spec {
			if spec[i] == '>' {
				m.Name, m.Tags["replicatefrom"] = spec[:i], spec[i+1:]
			}
		}
		c.Members = append(c.Members, m)
	}
	return c
}

func change(c *cluster.Cluster, name string, f func(*cluster.Member)) *cluster.Cluster {
	for i := range c.Members {
		if c.Members[i].Name == name {
			f(&c.Members[i])
		}
	}
	return c
}

func without(c *cluster.Cluster, name string) *cluster.Cluster {
	var kept []cluster.Member
	for _, m := range c.Members {
		if m.Name != name {
			kept = append(kept, m)
		}
	}
	c.Members = kept
	return c
}

func TestUpstreamFor(t *testing.T) {
	for _, tc := range []struct {
		name     string
		c        *cluster.Cluster
		self, rf string
		noStream bool
		want     string
		why      string
	}{
		{name: "no tag: the leader", c: cascade("pg-1", "pg-2"), self: "pg-2", want: "pg-0"},
		{name: "replicatefrom a streaming replica", c: cascade("pg-1", "pg-2"), self: "pg-2", rf: "pg-1", want: "pg-1", why: "replicatefrom pg-1"},
		{name: "replicatefrom the leader", c: cascade("pg-1", "pg-2"), self: "pg-2", rf: "pg-0", want: "pg-0"},
		{name: "replicatefrom itself: the leader", c: cascade("pg-1", "pg-2"), self: "pg-2", rf: "pg-2", want: "pg-0"},
		{name: "member key gone: the leader", c: without(cascade("pg-1", "pg-2"), "pg-1"), self: "pg-2", rf: "pg-1",
			want: "pg-0", why: "replicatefrom member pg-1 is not in the cluster: streaming from the leader"},
		{name: "member stopped: the leader", c: change(cascade("pg-1", "pg-2"), "pg-1", func(m *cluster.Member) { m.State = "stopped" }),
			self: "pg-2", rf: "pg-1", want: "pg-0", why: "replicatefrom member pg-1 is stopped: streaming from the leader"},
		{name: "member not streaming: the leader", c: change(cascade("pg-1", "pg-2"), "pg-1", func(m *cluster.Member) { m.ReplicationState = "in archive recovery" }),
			self: "pg-2", rf: "pg-1", want: "pg-0", why: "replicatefrom member pg-1 is not streaming (in archive recovery): streaming from the leader"},
		{name: "member publishes no replication state (older Patroni): trusted when running", c: change(cascade("pg-1", "pg-2"), "pg-1", func(m *cluster.Member) { m.ReplicationState = "" }),
			self: "pg-2", rf: "pg-1", want: "pg-1", why: "replicatefrom pg-1"},
		{name: "chain of two", c: cascade("pg-1", "pg-2>pg-1", "pg-3"), self: "pg-3", rf: "pg-2", want: "pg-2", why: "replicatefrom pg-2"},
		{name: "loop of two: the leader", c: cascade("pg-1>pg-2", "pg-2>pg-1"), self: "pg-2", rf: "pg-1",
			want: "pg-0", why: "replicatefrom chain from pg-1 leads back to pg-2: streaming from the leader"},
		{name: "loop of three: the leader", c: cascade("pg-1>pg-3", "pg-2>pg-1", "pg-3>pg-2"), self: "pg-3", rf: "pg-2",
			want: "pg-0", why: "replicatefrom chain from pg-2 leads back to pg-3: streaming from the leader"},
		{name: "a loop elsewhere is not mine", c: cascade("pg-1>pg-2", "pg-2>pg-1", "pg-3"), self: "pg-3", rf: "pg-1", want: "pg-1", why: "replicatefrom pg-1"},
		{name: "chain through the leader ends there", c: cascade("pg-1", "pg-2"), self: "pg-2", rf: "pg-1", want: "pg-1", why: "replicatefrom pg-1"},
		{name: "nostream: nobody", c: cascade("pg-1", "pg-2"), self: "pg-2", rf: "pg-1", noStream: true, want: "", why: "nostream: no primary_conninfo"},
		{name: "the leader itself: nobody", c: cascade("pg-1"), self: "pg-0", want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := upstreamFor(tc.c, tc.c.LeaderName(), tc.self, tc.rf, tc.noStream)
			if u.Member != tc.want || u.Why != tc.why || u.Leader != "pg-0" {
				t.Errorf("upstream = %+v, want member %q why %q leader pg-0", u, tc.want, tc.why)
			}
		})
	}
}

func TestCascadeDecisions(t *testing.T) {
	s := settings()
	s.Name, s.ReplicateFrom = "pg-2", "pg-1"
	leaderS := settings()
	leaderS.Name = "pg-0"
	upS := settings()
	upS.Name = "pg-1"
	onLeader := func(p *Postgres) { p.Upstream = "pg-0" }
	onPG1 := func(p *Postgres) { p.Upstream = "pg-1" }
	for _, tc := range []struct {
		name   string
		in     Input
		plan   string
		reason string
	}{
		{"streaming from the leader: re-point to the replicatefrom member",
			Input{Settings: s, Cluster: cascade("pg-1", "pg-2>pg-1"), PG: with(replicaPG, onLeader)},
			"follow(pg-1, leader pg-0)", "changing primary_conninfo to follow a leader (pg-0); replicatefrom pg-1"},
		{"cascading: steady, no slot kept by a leaf",
			Input{Settings: s, Cluster: cascade("pg-1", "pg-2>pg-1"), PG: with(replicaPG, onPG1)},
			"ensure-slots()", "no action. I am (pg-2), a secondary, and following a leader (pg-0); replicatefrom pg-1"},
		{"upstream gone: back to the leader",
			Input{Settings: s, Cluster: without(cascade("pg-1", "pg-2>pg-1"), "pg-1"), PG: with(replicaPG, onPG1)},
			"follow(pg-0)", "changing primary_conninfo to follow a leader (pg-0); replicatefrom member pg-1 is not in the cluster: streaming from the leader"},
		{"upstream stopped: back to the leader",
			Input{Settings: s, Cluster: change(cascade("pg-1", "pg-2>pg-1"), "pg-1", func(m *cluster.Member) { m.State = "stopped" }), PG: with(replicaPG, onPG1)},
			"follow(pg-0)", "changing primary_conninfo to follow a leader (pg-0); replicatefrom member pg-1 is stopped: streaming from the leader"},
		{"starting: straight to the replicatefrom member",
			Input{Settings: s, Cluster: cascade("pg-1", "pg-2>pg-1"), PG: with(replicaPG, func(p *Postgres) { p.Running, p.Ready = false, false })},
			"follow(pg-1, leader pg-0)", "starting as a secondary; replicatefrom pg-1"},
		{"no leader: starting streams from the replicatefrom member, nothing to check against",
			Input{Settings: s, Cluster: func() *cluster.Cluster { c := cascade("pg-1", "pg-2>pg-1"); c.Leader = nil; return c }(), PG: with(replicaPG, func(p *Postgres) { p.Running, p.Ready = false, false })},
			"follow(pg-1)", "starting as a secondary; replicatefrom pg-1"},
		{"the upstream replica keeps a slot for the cascading member",
			Input{Settings: upS, Cluster: cascade("pg-1", "pg-2>pg-1", "pg-3"), PG: with(replicaPG, onLeader)},
			"ensure-slots(pg_2)", "no action. I am (pg-1), a secondary, and following a leader (pg-0)"},
		{"paused: a replica keeps the slots it needs but drops nothing (ensure-slots in pause)",
			Input{Settings: func() Settings { p := upS; p.Pause = true; return p }(), Cluster: cascade("pg-1", "pg-2>pg-1"), PG: with(replicaPG, onLeader)},
			"ensure-slots(pg_2)", "PAUSE: no action. I am (pg-1), a secondary, and following a leader (pg-0)"},
		{"the leader keeps none for it while its upstream streams",
			Input{Settings: leaderS, Cluster: cascade("pg-1", "pg-2>pg-1", "pg-3"), PG: primaryPG, LastRefresh: t0},
			"refresh-leader -> ensure-slots(pg_1,pg_3)", "no action. I am (pg-0), the leader with the lock"},
		{"the leader keeps one once the upstream is gone",
			Input{Settings: leaderS, Cluster: change(cascade("pg-1", "pg-2>pg-1", "pg-3"), "pg-1", func(m *cluster.Member) { m.State = "stopped" }), PG: primaryPG, LastRefresh: t0},
			"refresh-leader -> ensure-slots(pg_1,pg_2,pg_3)", "no action. I am (pg-0), the leader with the lock"},
		{"no slot anywhere for a nostream member",
			Input{Settings: leaderS, Cluster: change(cascade("pg-1", "pg-2"), "pg-2", func(m *cluster.Member) { m.Tags["nostream"] = true }), PG: primaryPG, LastRefresh: t0},
			"refresh-leader -> ensure-slots(pg_1)", "no action. I am (pg-0), the leader with the lock"},
		{"a new leader taking the key keeps none for a cascading member",
			Input{Settings: leaderS, Cluster: func() *cluster.Cluster { c := cascade("pg-1", "pg-2>pg-1"); c.Leader = nil; return c }(), PG: primaryPG},
			"take-leader -> ensure-slots(pg_1)", "acquired session lock as a leader"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Now = t0
			out := Decide(in)
			if got := out.Plan.String(); got != tc.plan {
				t.Errorf("plan = %q, want %q", got, tc.plan)
			}
			if out.Reason != tc.reason {
				t.Errorf("reason = %q, want %q", out.Reason, tc.reason)
			}
		})
	}
}

func TestNoStreamDecisions(t *testing.T) {
	s := settings()
	s.Name, s.NoStream = "pg-2", true
	c := change(cascade("pg-1", "pg-2"), "pg-2", func(m *cluster.Member) { m.Tags["nostream"] = true })
	out := Decide(Input{Now: t0, Settings: s, Cluster: c, PG: with(replicaPG, func(p *Postgres) { p.Upstream = "pg-0" })})
	if got, want := out.Plan.String(), "follow(no stream, leader pg-0)"; got != want {
		t.Errorf("plan = %q, want %q", got, want)
	}
	out = Decide(Input{Now: t0, Settings: s, Cluster: c, PG: replicaPG})
	if got, want := out.Plan.String(), "ensure-slots()"; got != want {
		t.Errorf("steady nostream replica: plan = %q, want %q (%s)", got, want, out.Reason)
	}
}
