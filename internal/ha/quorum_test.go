package ha

import (
	"fmt"
	"math/rand"
	"slices"
	"sort"
	"testing"

	"github.com/warden-ha/warden/internal/cluster"
)

func TestParseSyncRule(t *testing.T) {
	tests := []struct {
		in   string
		want syncRule
		ok   bool
	}{
		{"", syncRule{}, true},
		{"*", syncRule{K: 1, Star: true}, true},
		{"pg2", syncRule{K: 1, Names: []string{"pg2"}}, true},
		{`"pg-2"`, syncRule{K: 1, Names: []string{"pg-2"}}, true},
		{`2 ("pg-2",pg3)`, syncRule{K: 2, Names: []string{"pg-2", "pg3"}}, true},
		{`ANY 1 ("pg-2", "pg-3")`, syncRule{K: 1, Names: []string{"pg-2", "pg-3"}}, true},
		{`FIRST 1 (a,b)`, syncRule{K: 1, Names: []string{"a", "b"}}, true},
		{`any 2 ("a""b",c)`, syncRule{K: 2, Names: []string{`a"b`, "c"}}, true},
		{`ANY x (a)`, syncRule{}, false},
		{`ANY 1 (a,)`, syncRule{}, false},
		{`ANY 1 (*)`, syncRule{}, false},
		{`a b`, syncRule{}, false},
		{`"unterminated`, syncRule{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseSyncRule(tt.in)
			if ok != tt.ok || fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("parseSyncRule(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func quorumSettings(count int) Settings {
	s := settings()
	s.SynchronousMode, s.SynchronousQuorum, s.SynchronousNodeCount = true, true, count
	return s
}

func withQuorum(c *cluster.Cluster, q int, standbys ...string) *cluster.Cluster {
	c.Sync = &cluster.SyncState{Leader: "pg-1", SyncStandby: standbys, Quorum: &q}
	return c
}

func streaming(flush uint64, names ...string) []Replica {
	rows := []Replica{}
	for _, n := range names {
		rows = append(rows, Replica{Name: n, State: "streaming", SyncState: "quorum", FlushLSN: flush})
	}
	return rows
}

func TestQuorumPlan(t *testing.T) {
	three := func() *cluster.Cluster { return snapshot("pg-1", "pg-1", "pg-2", "pg-3") }
	pg := func(names string, rows ...Replica) Postgres {
		return with(primaryPG, func(p *Postgres) { p.SyncStandbyNames, p.Replication = names, rows })
	}
	tests := []struct {
		name string
		in   Input
		plan string
	}{
		{
			name: "new leader: both replicas join /sync with a quorum covering them",
			in:   Input{Settings: quorumSettings(1), Cluster: withQuorum(three(), 0), PG: pg("", streaming(900, "pg-2", "pg-3")...)},
			plan: `write-sync(pg-2,pg-3 quorum=2)`,
		},
		{
			name: "voters published: the parameter follows",
			in:   Input{Settings: quorumSettings(1), Cluster: withQuorum(three(), 2, "pg-2", "pg-3"), PG: pg("", streaming(900, "pg-2", "pg-3")...)},
			plan: `set-sync-standbys("ANY 1 (\"pg-2\",\"pg-3\")")`,
		},
		{
			name: "parameter in force, replicas caught up: quorum lowered to len-k",
			in: Input{Settings: quorumSettings(1), Cluster: withQuorum(three(), 2, "pg-2", "pg-3"), SyncGUCSetAt: 950,
				PG: pg(`ANY 1 ("pg-2","pg-3")`, streaming(1000, "pg-2", "pg-3")...)},
			plan: `write-sync(pg-2,pg-3 quorum=1)`,
		},
		{
			name: "parameter in force, replicas not past the change yet: quorum kept",
			in:   Input{Settings: quorumSettings(1), Cluster: withQuorum(three(), 2, "pg-2", "pg-3"), SyncGUCSetAt: 950, PG: pg(`ANY 1 ("pg-2","pg-3")`, streaming(900, "pg-2", "pg-3")...)},
		},
		{
			name: "steady",
			in:   Input{Settings: quorumSettings(1), Cluster: withQuorum(three(), 1, "pg-2", "pg-3"), PG: pg(`ANY 1 ("pg-2","pg-3")`, streaming(900, "pg-2", "pg-3")...)},
		},
		{
			name: "a voter is gone: it leaves /sync first, and no one may promote on the rest alone",
			in:   Input{Settings: quorumSettings(1), Cluster: withQuorum(three(), 1, "pg-2", "pg-3"), PG: pg(`ANY 1 ("pg-2","pg-3")`, streaming(900, "pg-2")...)},
			plan: `write-sync(pg-2 quorum=1)`,
		},
		{
			name: "then the parameter drops it",
			in:   Input{Settings: quorumSettings(1), Cluster: withQuorum(three(), 1, "pg-2"), PG: pg(`ANY 1 ("pg-2","pg-3")`, streaming(900, "pg-2")...)},
			plan: `set-sync-standbys("ANY 1 (\"pg-2\")")`,
		},
		{
			name: "synchronous_node_count raised: quorum first covers the stronger rule, then k",
			in:   Input{Settings: quorumSettings(2), Cluster: withQuorum(three(), 1, "pg-2", "pg-3"), PG: pg(`ANY 1 ("pg-2","pg-3")`, streaming(900, "pg-2", "pg-3")...)},
			plan: `set-sync-standbys("ANY 2 (\"pg-2\",\"pg-3\")")`,
		},
		{
			name: "synchronous_node_count lowered: quorum raised before k",
			in:   Input{Settings: quorumSettings(1), Cluster: withQuorum(three(), 0, "pg-2", "pg-3"), PG: pg(`ANY 2 ("pg-2","pg-3")`, streaming(900, "pg-2", "pg-3")...)},
			plan: `write-sync(pg-2,pg-3 quorum=1)`,
		},
		{
			name: "nobody left, strict: block writes",
			in:   Input{Settings: func() Settings { s := quorumSettings(1); s.SynchronousModeStrict = true; return s }(), Cluster: withQuorum(three(), 0), PG: pg(`ANY 1 ("pg-2")`)},
			plan: `set-sync-standbys("*")`,
		},
		{
			name: "nobody left, not strict: asynchronous",
			in:   Input{Settings: quorumSettings(1), Cluster: withQuorum(three(), 0), PG: pg(`ANY 1 ("pg-2")`)},
			plan: `set-sync-standbys("")`,
		},
		{
			name: "/sync written in mode on: rewritten with a quorum",
			in: Input{Settings: quorumSettings(1), Cluster: func() *cluster.Cluster {
				c := three()
				c.Sync = &cluster.SyncState{Leader: "pg-1", SyncStandby: []string{"pg-2"}}
				return c
			}(), PG: pg(`"pg-2"`, streaming(900, "pg-2")...)},
			plan: `write-sync(pg-2 quorum=0)`,
		},
		{
			name: "nosync member never votes",
			in: Input{Settings: quorumSettings(1), Cluster: func() *cluster.Cluster {
				c := withQuorum(three(), 0)
				c.Members[2].Tags = map[string]any{"nosync": true}
				return c
			}(), PG: pg("", streaming(900, "pg-2", "pg-3")...)},
			plan: `write-sync(pg-2 quorum=1)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := quorumPlan(tt.in).String(); got != tt.plan {
				t.Fatalf("plan\n got %s\nwant %s", got, tt.plan)
			}
		})
	}
}

// TestQuorumStepsStaySafe walks random membership changes through quorumPlan, applying
// each step, and models acknowledged commits explicitly: before and after every step a
// commit is acknowledged under the parameter in force (before and after the step, as a
// walsender may reload late) by the fewest possible voters; a replica reported as caught
// up holds every earlier commit. After every step each commit must be on at least
// len(voters)-quorum voters, the promise a promotion relies on.
func TestQuorumStepsStaySafe(t *testing.T) {
	all := []string{"pg-2", "pg-3", "pg-4", "pg-5"}
	rng := rand.New(rand.NewSource(1))
	steps := 0
	for run := range 3000 {
		count := 1 + rng.Intn(3)
		strict := rng.Intn(2) == 0
		guc := []string{"", "*", `"pg-2"`, `ANY 1 ("pg-2","pg-3")`, `2 ("pg-4","pg-5")`}[rng.Intn(5)]
		voters, quorum := []string{}, 0
		var commits []map[string]bool
		ack := func(value string, up []string) {
			r, _ := parseSyncRule(value)
			if r.Star {
				commits = append(commits, map[string]bool{})
				return
			}
			live := intersect(r.Names, up)
			if len(live) < r.K {
				return // blocks: nothing acknowledged
			}
			// The adversary acknowledges with non-voters first.
			sort.SliceStable(live, func(i, j int) bool { return !slices.Contains(voters, live[i]) && slices.Contains(voters, live[j]) })
			h := map[string]bool{}
			for _, n := range live[:r.K] {
				h[n] = true
			}
			commits = append(commits, h)
		}
		for step := range 30 {
			var up []string
			for _, n := range all {
				if rng.Intn(4) != 0 {
					up = append(up, n)
				}
			}
			ack(guc, up)
			caughtUp := rng.Intn(2) == 0
			rows := []Replica{}
			for _, n := range up {
				flush := uint64(900)
				if caughtUp {
					flush = 1000
					for _, c := range commits {
						c[n] = true
					}
				}
				rows = append(rows, Replica{Name: n, State: "streaming", SyncState: "quorum", FlushLSN: flush})
			}
			s := quorumSettings(count)
			s.SynchronousModeStrict = strict
			c := snapshot("pg-1", append([]string{"pg-1"}, all...)...)
			q := quorum
			c.Sync = &cluster.SyncState{Leader: "pg-1", SyncStandby: voters, Quorum: &q}
			in := Input{Settings: s, Cluster: c, SyncGUCSetAt: 1000, PG: with(primaryPG, func(p *Postgres) { p.SyncStandbyNames, p.Replication = guc, rows })}
			old := guc
			for _, a := range quorumPlan(in) {
				switch a.Kind {
				case KindWriteSync:
					voters, quorum = a.Standbys, *a.Quorum
				case KindSetSyncStandbys:
					guc = a.Value
				}
			}
			steps++
			ack(old, up)
			ack(guc, up)
			for i, h := range commits {
				n := 0
				for _, v := range voters {
					if h[v] {
						n++
					}
				}
				if n < len(voters)-quorum {
					t.Fatalf("run %d step %d: commit %d on %d of voters %v, quorum %d promises %d (parameter %q -> %q)",
						run, step, i, n, voters, quorum, len(voters)-quorum, old, guc)
				}
			}
		}
	}
	t.Logf("%d steps checked", steps)
}

// A fresh leader with two caught-up replicas settles on ANY 1 of both, quorum 1.
func TestQuorumConverges(t *testing.T) {
	c := withQuorum(snapshot("pg-1", "pg-1", "pg-2", "pg-3"), 0)
	guc := ""
	var steps []string
	for range 6 {
		q := *c.Sync.Quorum
		c.Sync.Quorum = &q
		in := Input{Settings: quorumSettings(1), Cluster: c, SyncGUCSetAt: 950,
			PG: with(primaryPG, func(p *Postgres) { p.SyncStandbyNames, p.Replication = guc, streaming(1000, "pg-2", "pg-3") })}
		plan := quorumPlan(in)
		if len(plan) == 0 {
			break
		}
		steps = append(steps, plan.String())
		for _, a := range plan {
			if a.Kind == KindWriteSync {
				c.Sync.SyncStandby, c.Sync.Quorum = a.Standbys, a.Quorum
			} else {
				guc = a.Value
			}
		}
	}
	want := []string{`write-sync(pg-2,pg-3 quorum=2)`, `set-sync-standbys("ANY 1 (\"pg-2\",\"pg-3\")")`, `write-sync(pg-2,pg-3 quorum=1)`}
	if !slices.Equal(steps, want) {
		t.Fatalf("steps\n got %q\nwant %q", steps, want)
	}
}

func TestQuorumRace(t *testing.T) {
	replica := with(replicaPG, func(p *Postgres) { p.WAL = 1000 })
	peer := func(name string, wal uint64) Peer {
		return Peer{Name: name, Reachable: true, InRecovery: true, WAL: wal, Timeline: 1}
	}
	in := func(name string, q int, voters []string, peers ...Peer) Input {
		s := quorumSettings(1)
		s.Name = name
		c := snapshot("", "pg-1", "pg-2", "pg-3", "pg-4")
		c.Sync = &cluster.SyncState{Leader: "pg-1", SyncStandby: voters, Quorum: &q}
		return Input{Settings: s, Cluster: c, PG: replica, Peers: peers}
	}
	tests := []struct {
		name string
		in   Input
		ok   bool
		why  string
	}{
		{"a voter hears from the other voter", in("pg-2", 1, []string{"pg-2", "pg-3"}, peer("pg-3", 900)), true, ""},
		{"a voter alone cannot know it has every commit", in("pg-2", 1, []string{"pg-2", "pg-3"}), false,
			"only 0 of the 1 votes the quorum needs (voters not ahead of me)"},
		{"a voter ahead blocks", in("pg-2", 1, []string{"pg-2", "pg-3"}, peer("pg-3", 1100)), false,
			"Wal position of pg-3 is ahead of my wal position"},
		{"a non-voter may not promote", in("pg-4", 0, []string{"pg-2", "pg-3"}, peer("pg-2", 900), peer("pg-3", 900)), false,
			"synchronous mode is on and I am not a synchronous standby"},
		{"quorum 0: every voter holds every commit", in("pg-2", 0, []string{"pg-2", "pg-3"}), true, ""},
		{"the former leader not ahead counts for all", in("pg-2", 2, []string{"pg-2", "pg-3", "pg-4"}, peer("pg-1", 1000)), true, ""},
		{"two votes for quorum 2", in("pg-2", 2, []string{"pg-2", "pg-3", "pg-4"}, peer("pg-3", 900), peer("pg-4", 1000)), true, ""},
		{"one vote for quorum 2", in("pg-2", 2, []string{"pg-2", "pg-3", "pg-4"}, peer("pg-3", 900), Peer{Name: "pg-4"}), false,
			"only 1 of the 2 votes the quorum needs (voters not ahead of me)"},
		{"a former leader whose PostgreSQL is down tells nothing", in("pg-2", 1, []string{"pg-2"}, Peer{Name: "pg-1", Reachable: true, InRecovery: true}), false,
			"only 0 of the 1 votes the quorum needs (voters not ahead of me)"},
		{"a voter whose PostgreSQL is down does not vote", in("pg-2", 1, []string{"pg-2", "pg-3"}, Peer{Name: "pg-3", Reachable: true, InRecovery: true}), false,
			"only 0 of the 1 votes the quorum needs (voters not ahead of me)"},
		{"a nofailover voter still votes", in("pg-2", 1, []string{"pg-2", "pg-3"}, func() Peer { p := peer("pg-3", 900); p.NoFailover = true; return p }()), true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, why := healthiest(tt.in)
			if ok != tt.ok || why != tt.why {
				t.Fatalf("healthiest = %v %q; want %v %q", ok, why, tt.ok, tt.why)
			}
		})
	}
}

func TestMaximumLagOnSyncnode(t *testing.T) {
	rows := func(flush ...uint64) []Replica {
		out := []Replica{}
		for i, f := range flush {
			out = append(out, Replica{Name: fmt.Sprintf("pg-%d", i+2), State: "streaming", SyncState: "sync", FlushLSN: f})
		}
		return out
	}
	tests := []struct {
		name   string
		quorum bool
		lag    int64
		wal    uint64
		rows   []Replica
		want   []string
	}{
		{"disabled", false, -1, 10000, rows(100, 9000), []string{"pg-3"}},
		{"lagging sync standby swapped", false, 1000, 10000, rows(100, 9000), []string{"pg-3"}},
		{"within the limit keeps the most advanced", false, 10000, 10000, rows(100, 9000), []string{"pg-3"}},
		{"one replica measured against the primary", false, 1000, 10000, rows(8000), []string{}},
		{"quorum: lagging voter left out", true, 1000, 10000, rows(100, 9000, 9500), []string{"pg-3", "pg-4"}},
		{"quorum: disabled keeps all", true, 0, 10000, rows(100, 9000, 9500), []string{"pg-2", "pg-3", "pg-4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := settings()
			s.SynchronousMode, s.SynchronousQuorum, s.MaximumLagOnSyncnode = true, tt.quorum, tt.lag
			in := Input{Settings: s, Cluster: snapshot("pg-1", "pg-1", "pg-2", "pg-3", "pg-4"), PG: with(primaryPG, func(p *Postgres) {
				p.WAL, p.Replication = tt.wal, tt.rows
			})}
			if got := pickSyncStandbys(in); !slices.Equal(got, tt.want) {
				t.Fatalf("picked %v, want %v", got, tt.want)
			}
		})
	}
}

// sync_priority (Patroni 4.1) outranks the sync state and the position; sync_priority 0 is
// nosync.
func TestSyncPriority(t *testing.T) {
	s := settings()
	s.SynchronousMode, s.SynchronousNodeCount = true, 1
	c := snapshot("pg-1", "pg-1", "pg-2", "pg-3", "pg-4")
	tag := func(name string, v any) {
		for i := range c.Members {
			if c.Members[i].Name == name {
				c.Members[i].Tags = map[string]any{"sync_priority": v}
			}
		}
	}
	rows := []Replica{
		{Name: "pg-2", State: "streaming", SyncState: "sync", FlushLSN: 9000},
		{Name: "pg-3", State: "streaming", SyncState: "async", FlushLSN: 100},
		{Name: "pg-4", State: "streaming", SyncState: "async", FlushLSN: 9500},
	}
	in := Input{Settings: s, Cluster: c, PG: with(primaryPG, func(p *Postgres) { p.WAL, p.Replication = 10000, rows })}
	if got := pickSyncStandbys(in); !slices.Equal(got, []string{"pg-2"}) {
		t.Fatalf("without priorities picked %v, want the synchronous pg-2", got)
	}
	tag("pg-3", 5)
	if got := pickSyncStandbys(in); !slices.Equal(got, []string{"pg-3"}) {
		t.Fatalf("picked %v, want pg-3 with the highest sync_priority", got)
	}
	tag("pg-3", 0)
	tag("pg-2", 0)
	if got := pickSyncStandbys(in); !slices.Equal(got, []string{"pg-4"}) {
		t.Fatalf("picked %v, want pg-4: sync_priority 0 is nosync", got)
	}
}

// Back to mode on from quorum: a /sync with quorum 1 does not promise that each voter
// has every commit, so nobody counts as confirmed until it is synchronous again.
func TestModeOnAfterQuorum(t *testing.T) {
	s := settings()
	s.SynchronousMode = true
	in := Input{Settings: s, Cluster: withQuorum(snapshot("pg-1", "pg-1", "pg-2", "pg-3"), 1, "pg-2", "pg-3"), SyncGUCSetAt: 2000,
		PG: with(primaryPG, func(p *Postgres) {
			p.SyncStandbyNames, p.Replication = `ANY 1 ("pg-2","pg-3")`, streaming(1000, "pg-2", "pg-3")
		})}
	if got, want := syncPlan(in).String(), `write-sync()`; got != want {
		t.Fatalf("plan %s, want %s", got, want)
	}
	// A voter in such a /sync is not promoted on its own in mode on either.
	r := quorumSettings(1)
	r.SynchronousQuorum, r.Name = false, "pg-2"
	c := snapshot("", "pg-1", "pg-2", "pg-3")
	q := 1
	c.Sync = &cluster.SyncState{Leader: "pg-1", SyncStandby: []string{"pg-2", "pg-3"}, Quorum: &q}
	if ok, why := healthiest(Input{Settings: r, Cluster: c, PG: replicaPG}); ok {
		t.Fatalf("promotable without the other voter: %q", why)
	}
}
