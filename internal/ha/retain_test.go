package ha

import (
	"strings"
	"testing"
	"time"
)

func TestLostSlots(t *testing.T) {
	member := Slot{Name: "pg_2", Type: SlotPhysical}
	lost := func(s SlotState) SlotState { s.WALStatus = "lost"; return s }
	tests := []struct {
		name    string
		targets SlotTargets
		have    []SlotState
		want    string
	}{
		{name: "a lost member slot is dropped and created again", targets: SlotTargets{Want: []Slot{member}, Primary: true},
			have: []SlotState{lost(phys("pg_2"))}, want: "drop pg_2; create pg_2"},
		{name: "a lost unexpected slot is dropped at once", targets: SlotTargets{Primary: true, Grace: time.Hour},
			have: []SlotState{lost(phys("old"))}, want: "drop old"},
		{name: "an active lost slot is left", targets: SlotTargets{Want: []Slot{member}, Primary: true},
			have: []SlotState{func() SlotState { s := lost(phys("pg_2")); s.Active = true; return s }()}},
		{name: "nothing in pause", targets: SlotTargets{Want: []Slot{member}, Primary: true, Paused: true},
			have: []SlotState{lost(phys("pg_2"))}},
		{name: "ignored slots are left", targets: SlotTargets{Primary: true, Ignore: []SlotMatcher{{Name: "old"}}},
			have: []SlotState{lost(phys("old"))}},
		{name: "a lost logical slot on a replica is dropped and reported missing",
			targets: SlotTargets{Want: []Slot{{Name: "cdc", Type: SlotLogical, Database: "app", Plugin: "p", Permanent: true}}},
			have:    []SlotState{lost(logical("cdc", "app", "p", 5))}, want: "drop cdc; missing cdc"},
		{name: "unreserved and extended slots are kept", targets: SlotTargets{Want: []Slot{member}, Primary: true},
			have: []SlotState{func() SlotState { s := phys("pg_2"); s.WALStatus = "extended"; return s }()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch := tc.targets.Changes(tc.have, time.Unix(0, 0), nil)
			if got := changesString(ch); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for _, d := range ch.Drop {
				if strings.Contains(tc.name, "lost") && !strings.Contains(d.Why, "wal_status is lost") {
					t.Errorf("reason %q does not name wal_status", d.Why)
				}
			}
		})
	}
}

func TestRetention(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ttl := 5 * time.Minute
	targets := SlotTargets{MemberSlotsTTL: ttl, Members: []string{"pg_1", "pg_2"}, Retained: []string{"pg_3"},
		Want: []Slot{{Name: "pg_2", Type: SlotPhysical}, {Name: "pg_3", Type: SlotPhysical}, {Name: "keep", Type: SlotPhysical, Permanent: true}}}
	have := []SlotState{phys("pg_2"), phys("pg_3"), phys("keep"), logical("pg_1", "app", "p", 1)}
	tests := []struct {
		name      string
		targets   SlotTargets
		now       time.Time
		prev      map[string]time.Time
		publish   string
		expired   string
		remaining int
	}{
		{name: "a new primary starts the previous leader's list at now", targets: targets, now: t0,
			publish: "pg_2,pg_3", remaining: 2},
		{name: "a member's slot is stamped, a departed one kept until member_slots_ttl", targets: targets, now: t0.Add(ttl - time.Second),
			prev: map[string]time.Time{"pg_2": t0, "pg_3": t0}, publish: "pg_2,pg_3", remaining: 2},
		{name: "a departed member's slot expires after member_slots_ttl", targets: targets, now: t0.Add(ttl),
			prev: map[string]time.Time{"pg_2": t0, "pg_3": t0}, publish: "pg_2", expired: "pg_3", remaining: 1},
		{name: "permanent slots and a member key without a slot are not listed",
			targets: SlotTargets{MemberSlotsTTL: ttl, Members: []string{"keep", "pg_4"}, Want: []Slot{{Name: "keep", Type: SlotPhysical, Permanent: true}}},
			now:     t0, prev: map[string]time.Time{}, publish: ""},
		{name: "member_slots_ttl 0 keeps nothing", targets: SlotTargets{Members: []string{"pg_2"}, Retained: []string{"pg_3"}},
			now: t0, prev: map[string]time.Time{"pg_3": t0}, publish: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next, publish, expired := tc.targets.Retention(have, tc.now, tc.prev)
			if got := strings.Join(publish, ","); got != tc.publish {
				t.Errorf("publish %q, want %q", got, tc.publish)
			}
			if got := strings.Join(expired, ","); got != tc.expired {
				t.Errorf("expired %q, want %q", got, tc.expired)
			}
			if len(next) != tc.remaining {
				t.Errorf("kept %v, want %d names", next, tc.remaining)
			}
		})
	}
}

func TestRetainedSlotsWanted(t *testing.T) {
	c := snapshot("pg-1", "pg-1", "pg-2")
	c.Status.RetainSlots = []string{"pg_1", "pg_2", "pg_3"}
	tests := []struct {
		name    string
		ttl     time.Duration
		primary bool
		want    string
	}{
		{name: "primary keeps a departed member's slot", ttl: time.Hour, primary: true, want: "pg_2,pg_3"},
		{name: "member_slots_ttl 0: only present members", primary: true, want: "pg_2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := settings()
			s.MemberSlotsTTL = tc.ttl
			got := slotTargets(Input{Settings: s, Cluster: c}, tc.primary)
			if got.String() != tc.want {
				t.Fatalf("got %q, want %q", got.String(), tc.want)
			}
		})
	}
	// A member cascading from pg-2 keeps no slot on the leader though it is retained:
	// only the slots of members whose key vanished are kept.
	c = snapshot("pg-1", "pg-1", "pg-2", "pg-3")
	c.Members[2].Tags = map[string]any{"replicatefrom": "pg-2"}
	c.Members[1].ReplicationState = "streaming"
	c.Status.RetainSlots = []string{"pg_2", "pg_3"}
	s := settings()
	s.MemberSlotsTTL = time.Hour
	got := slotTargets(Input{Settings: s, Cluster: c}, true)
	if got.String() != "pg_2" || strings.Join(got.Members, ",") != "pg_1,pg_2" {
		t.Fatalf("cascading: want pg_2 stamped and kept, got %q members %v", got.String(), got.Members)
	}
}
