package ha

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
)

func phys(name string) SlotState { return SlotState{Name: name, Type: SlotPhysical, RestartLSN: 100} }

func logical(name, db, plugin string, flush uint64) SlotState {
	return SlotState{Name: name, Type: SlotLogical, Database: db, Plugin: plugin, RestartLSN: flush, ConfirmedFlushLSN: flush}
}

// changesString renders SlotChanges compactly for the table.
func changesString(c SlotChanges) string {
	var parts []string
	for _, d := range c.Drop {
		parts = append(parts, "drop "+d.Name)
	}
	for _, s := range c.Create {
		parts = append(parts, "create "+s.String())
	}
	for _, a := range c.Advance {
		parts = append(parts, fmt.Sprintf("advance %s %d->%d", a.Name, a.From, a.To))
	}
	for _, m := range c.Missing {
		parts = append(parts, "missing "+m)
	}
	return strings.Join(parts, "; ")
}

func TestSlotChanges(t *testing.T) {
	pslot := Slot{Name: "keep", Type: SlotPhysical, Permanent: true}
	lslot := Slot{Name: "cdc", Type: SlotLogical, Database: "app", Plugin: "test_decoding", Permanent: true}
	member := Slot{Name: "pg_2", Type: SlotPhysical}
	grace := 30 * time.Second
	tests := []struct {
		name    string
		targets SlotTargets
		have    []SlotState
		since   map[string]time.Time
		want    string
		pending []string // slots still unexpected, waiting for the grace period
	}{
		{
			name:    "primary creates member, permanent physical and logical slots",
			targets: SlotTargets{Want: []Slot{lslot, pslot, member}, Primary: true, Grace: grace},
			want:    "create cdc:logical/app/test_decoding; create keep; create pg_2",
		},
		{
			name:    "nothing to do when all exist",
			targets: SlotTargets{Want: []Slot{lslot, member}, Primary: true, Grace: grace},
			have:    []SlotState{logical("cdc", "app", "test_decoding", 500), phys("pg_2")},
		},
		{
			name:    "a member slot that just became unexpected survives a blip",
			targets: SlotTargets{Want: []Slot{member}, Primary: true, Grace: grace},
			have:    []SlotState{phys("pg_2"), phys("pg_3")},
			pending: []string{"pg_3"},
		},
		{
			name:    "unexpected for less than the grace period: kept",
			targets: SlotTargets{Want: []Slot{member}, Primary: true, Grace: grace},
			have:    []SlotState{phys("pg_2"), phys("pg_3")},
			since:   map[string]time.Time{"pg_3": t0.Add(-29 * time.Second)},
			pending: []string{"pg_3"},
		},
		{
			name:    "PostgreSQL 17: an unknown failover slot on the primary is a subscriber's, kept past the grace period",
			targets: SlotTargets{Want: []Slot{member}, Primary: true, Grace: grace},
			have:    []SlotState{phys("pg_2"), func() SlotState { s := logical("sub", "app", "pgoutput", 500); s.Failover = true; return s }()},
			since:   map[string]time.Time{"sub": t0.Add(-time.Hour)},
		},
		{
			name:    "PostgreSQL 17: a standby's synchronized copies are PostgreSQL's: not dropped, not advanced",
			targets: SlotTargets{Want: []Slot{lslot}, Grace: grace, Positions: map[string]uint64{"cdc": 900}},
			have: []SlotState{
				func() SlotState {
					s := logical("cdc", "app", "test_decoding", 500)
					s.Failover, s.Synced = true, true
					return s
				}(),
				func() SlotState {
					s := logical("sub", "app", "pgoutput", 500)
					s.Failover, s.Synced = true, true
					return s
				}(),
			},
			since: map[string]time.Time{"sub": t0.Add(-time.Hour)},
		},
		{
			name:    "unexpected for the grace period: dropped",
			targets: SlotTargets{Want: []Slot{member}, Primary: true, Grace: grace},
			have:    []SlotState{phys("pg_2"), phys("pg_3")},
			since:   map[string]time.Time{"pg_3": t0.Add(-30 * time.Second)},
			want:    "drop pg_3",
		},
		{
			name:    "an unknown logical slot is dropped after the grace period too",
			targets: SlotTargets{Primary: true, Grace: grace},
			have:    []SlotState{logical("old", "app", "pgoutput", 1)},
			since:   map[string]time.Time{"old": t0.Add(-time.Minute)},
			want:    "drop old",
		},
		{
			name:    "ignore_slots by name: never dropped",
			targets: SlotTargets{Ignore: []SlotMatcher{{Name: "mine"}}, Primary: true, Grace: grace},
			have:    []SlotState{phys("mine")},
			since:   map[string]time.Time{"mine": t0.Add(-time.Hour)},
		},
		{
			name:    "ignore_slots by type and plugin: only matching slots are spared",
			targets: SlotTargets{Ignore: []SlotMatcher{{Type: SlotLogical, Plugin: "pgoutput"}}, Primary: true},
			have:    []SlotState{logical("a", "app", "pgoutput", 1), logical("b", "app", "test_decoding", 1)},
			since:   map[string]time.Time{"a": t0.Add(-time.Hour), "b": t0.Add(-time.Hour)},
			want:    "drop b",
		},
		{
			name:    "a wanted slot matching ignore_slots is neither changed nor advanced",
			targets: SlotTargets{Want: []Slot{lslot}, Ignore: []SlotMatcher{{Name: "cdc"}}, Positions: map[string]uint64{"cdc": 900}},
			have:    []SlotState{logical("cdc", "app", "pgoutput", 1)},
		},
		{
			name:    "active slots are never dropped",
			targets: SlotTargets{Primary: true},
			have:    []SlotState{{Name: "busy", Type: SlotPhysical, Active: true}},
			since:   map[string]time.Time{"busy": t0.Add(-time.Hour)},
		},
		{
			name:    "temporary slots are never touched",
			targets: SlotTargets{Primary: true},
			have:    []SlotState{{Name: "tmp", Type: SlotLogical, Temporary: true}},
		},
		{
			name:    "pause: unknown slots stay",
			targets: SlotTargets{Primary: true, Paused: true},
			have:    []SlotState{phys("pg_3")},
			since:   map[string]time.Time{"pg_3": t0.Add(-time.Hour)},
		},
		{
			name:    "a permanent slot whose plugin changed is dropped and created again",
			targets: SlotTargets{Want: []Slot{lslot}, Primary: true, Paused: true},
			have:    []SlotState{logical("cdc", "app", "pgoutput", 1)},
			want:    "drop cdc; create cdc:logical/app/test_decoding",
		},
		{
			name:    "a changed slot still in use is left until it is free",
			targets: SlotTargets{Want: []Slot{lslot}, Primary: true},
			have:    []SlotState{{Name: "cdc", Type: SlotPhysical, Active: true}},
		},
		{
			name:    "replica: permanent physical created, logical missing (no creation in recovery)",
			targets: SlotTargets{Want: []Slot{lslot, pslot}, Grace: grace},
			want:    "create keep; missing cdc",
		},
		{
			name:    "replica: permanent slots advanced to the leader's positions, never back",
			targets: SlotTargets{Want: []Slot{lslot, pslot}, Positions: map[string]uint64{"cdc": 900, "keep": 50}},
			have:    []SlotState{logical("cdc", "app", "test_decoding", 500), phys("keep")},
			want:    "advance cdc 500->900",
		},
		{
			name:    "replica: no published position, no advance",
			targets: SlotTargets{Want: []Slot{pslot}, Positions: map[string]uint64{}},
			have:    []SlotState{phys("keep")},
		},
		{
			name:    "replica: a member slot left by a former primary is dropped after the grace period",
			targets: SlotTargets{Want: []Slot{pslot}, Grace: grace},
			have:    []SlotState{phys("keep"), phys("pg_2")},
			since:   map[string]time.Time{"pg_2": t0.Add(-31 * time.Second)},
			want:    "drop pg_2",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch := tc.targets.Changes(tc.have, t0, tc.since)
			if got := changesString(ch); got != tc.want {
				t.Errorf("changes = %q, want %q", got, tc.want)
			}
			var pending []string
			for name := range ch.Unexpected {
				pending = append(pending, name)
			}
			if strings.Join(pending, ",") != strings.Join(tc.pending, ",") {
				t.Errorf("pending = %v, want %v", pending, tc.pending)
			}
			for name, since := range ch.Unexpected {
				if old, ok := tc.since[name]; ok && !since.Equal(old) {
					t.Errorf("%s: first seen moved from %v to %v", name, old, since)
				}
			}
		})
	}
}

func TestSlotTargets(t *testing.T) {
	perm := []Slot{
		{Name: "cdc", Type: SlotLogical, Database: "app", Plugin: "test_decoding"},
		{Name: "keep", Type: SlotPhysical},
		{Name: "pg_1", Type: SlotPhysical},
		{Name: "pg_2", Type: SlotLogical, Database: "app", Plugin: "pgoutput"},
	}
	withStatus := func(c *cluster.Cluster) *cluster.Cluster {
		c.Status.Slots = map[string]uint64{"cdc": 7}
		return c
	}
	tests := []struct {
		name       string
		primary    bool
		noFailover bool
		cluster    *cluster.Cluster
		want       string
		positions  bool
	}{
		// pg_1 (this node) gets no permanent physical slot named after itself; the
		// permanent logical pg_2 conflicts with the member slot of pg-2 and loses.
		{name: "primary", primary: true, cluster: snapshot("pg-1", "pg-1", "pg-2", "pg-3"), want: "cdc*,keep*,pg_2,pg_3"},
		{name: "replica keeps permanent slots", cluster: withStatus(snapshot("pg-2", "pg-1", "pg-2")), want: "cdc*,keep*,pg_2*", positions: true},
		{name: "nofailover replica keeps none", noFailover: true, cluster: snapshot("pg-2", "pg-1", "pg-2"), want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := settings()
			s.PermanentSlots, s.NoFailover = perm, tc.noFailover
			got := slotTargets(Input{Settings: s, Cluster: tc.cluster}, tc.primary)
			if got.String() != tc.want {
				t.Errorf("targets = %q, want %q", got.String(), tc.want)
			}
			if (got.Positions != nil) != tc.positions || got.Grace != s.TTL {
				t.Errorf("positions %v grace %v", got.Positions, got.Grace)
			}
		})
	}
}

func TestCopySlotsDecision(t *testing.T) {
	perm := []Slot{{Name: "cdc", Type: SlotLogical, Database: "app", Plugin: "test_decoding"}, {Name: "keep", Type: SlotPhysical}}
	published := func(c *cluster.Cluster) *cluster.Cluster {
		c.Status.Slots = map[string]uint64{"cdc": 7, "keep": 5}
		return c
	}
	tests := []struct {
		name       string
		slots      []SlotState
		status     bool
		noFailover bool
		failed     time.Time
		plan       string
		reason     string
	}{
		{name: "missing logical slot the leader publishes: copy", slots: []SlotState{phys("keep")}, status: true,
			plan: "copy-slots(pg-2: cdc)", reason: "Copying logical slots ['cdc'] from the primary"},
		{name: "already copied: keep and advance", slots: []SlotState{phys("keep"), logical("cdc", "app", "test_decoding", 3)}, status: true,
			plan: "ensure-slots(cdc*,keep*)"},
		{name: "no published position yet: wait", slots: []SlotState{}, plan: "ensure-slots(cdc*,keep*)"},
		{name: "slots not read this cycle: no copy", status: true, plan: "ensure-slots(cdc*,keep*)"},
		{name: "nofailover replica: no permanent slots", slots: []SlotState{}, status: true, noFailover: true, plan: "ensure-slots()"},
		{name: "a copy failed less than ttl ago: wait", slots: []SlotState{}, status: true, failed: t0.Add(-10 * time.Second), plan: "ensure-slots(cdc*,keep*)"},
		{name: "a copy failed ttl ago: again", slots: []SlotState{}, status: true, failed: t0.Add(-30 * time.Second),
			plan: "copy-slots(pg-2: cdc)", reason: "Copying logical slots ['cdc'] from the primary"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := settings()
			s.PermanentSlots, s.NoFailover = perm, tc.noFailover
			c := snapshot("pg-2", "pg-1", "pg-2")
			if tc.status {
				c = published(c)
			}
			pg := with(replicaPG, func(p *Postgres) { p.Upstream = "pg-2"; p.Slots = tc.slots })
			out := Decide(Input{Now: t0, Settings: s, Cluster: c, PG: pg, SlotCopyFailed: tc.failed})
			if out.Plan.String() != tc.plan {
				t.Errorf("plan = %q, want %q", out.Plan, tc.plan)
			}
			if want := tc.reason; want != "" && out.Reason != want {
				t.Errorf("reason = %q, want %q", out.Reason, want)
			}
		})
	}
}
