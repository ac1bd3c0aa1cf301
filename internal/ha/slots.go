package ha

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
)

// Slot types as pg_replication_slots names them.
const (
	SlotPhysical = "physical"
	SlotLogical  = "logical"
)

// Slot is a replication slot a node must have: a member's physical slot or a permanent
// slot from the dynamic configuration.
type Slot struct {
	Name      string
	Type      string
	Database  string
	Plugin    string
	Permanent bool
}

func (s Slot) String() string {
	if s.Type == SlotLogical {
		return fmt.Sprintf("%s:logical/%s/%s", s.Name, s.Database, s.Plugin)
	}
	return s.Name
}

// SlotMatcher is one ignore_slots entry: a slot matches when every field given equals
// the slot's.
type SlotMatcher struct {
	Name, Type, Database, Plugin string
}

// Match reports whether the matcher covers the slot.
func (m SlotMatcher) Match(s SlotState) bool {
	return (m.Name == "" || m.Name == s.Name) && (m.Type == "" || m.Type == s.Type) &&
		(m.Database == "" || m.Database == s.Database) && (m.Plugin == "" || m.Plugin == s.Plugin)
}

// SlotState is one slot as pg_replication_slots shows it.
type SlotState struct {
	Name, Type, Database, Plugin string
	Active, Temporary            bool
	RestartLSN                   uint64
	// ConfirmedFlushLSN is a logical slot's position; 0 for physical slots.
	ConfirmedFlushLSN uint64
	// CatalogXmin is a logical slot's catalog_xmin; 0 when null.
	CatalogXmin uint32
	// Failover (PostgreSQL 17+): the slot is synchronized to standbys running
	// sync_replication_slots. Synced: this standby's copy is such a synchronized slot.
	// Both are PostgreSQL's to manage, never dropped as unknown.
	Failover, Synced bool
}

// Position is the slot's progress: confirmed_flush_lsn for a logical slot, restart_lsn
// for a physical one. The leader publishes it in /status.slots; replicas advance to it.
func (s SlotState) Position() uint64 {
	if s.Type == SlotLogical {
		return s.ConfirmedFlushLSN
	}
	return s.RestartLSN
}

// SlotTargets is what EnsureSlots makes true on this node.
type SlotTargets struct {
	// Want are the slots this node keeps, sorted by name.
	Want []Slot
	// Ignore: slots matching one of these are never dropped or changed.
	Ignore []SlotMatcher
	// Primary: logical slots can only be created on a primary.
	Primary bool
	// Paused: in maintenance mode unknown slots are left alone.
	Paused bool
	// Grace is how long a slot must be unexpected before it is dropped (ttl), so a
	// member key that vanishes for a moment does not cost the member its slot.
	Grace time.Duration
	// Positions are the leader's published slot positions (/status.slots); a replica
	// advances its copies of permanent slots to them.
	Positions map[string]uint64
	// Leader is the member a replica follows, where its copies of logical slots are
	// checked for being safe to use after a promotion.
	Leader *cluster.Member
}

// SlotDrop is a slot to drop and why.
type SlotDrop struct {
	Name string
	Why  string
}

// SlotAdvance moves a replica's copy of a permanent slot to the leader's position.
type SlotAdvance struct {
	Slot
	From, To uint64
}

// SlotChanges are the statements EnsureSlots runs, in this order: drop, create, advance.
type SlotChanges struct {
	Drop    []SlotDrop
	Create  []Slot
	Advance []SlotAdvance
	// Missing are permanent logical slots a replica does not have: PostgreSQL cannot
	// create a logical slot during recovery.
	Missing []string
	// Unexpected maps each unexpected, droppable slot to when it was first seen so; the
	// caller passes it back next time.
	Unexpected map[string]time.Time
}

// Empty reports whether nothing needs to change.
func (c SlotChanges) Empty() bool {
	return len(c.Drop) == 0 && len(c.Create) == 0 && len(c.Advance) == 0
}

// Changes compares the slots the node has with the targets. unexpectedSince is the
// Unexpected map returned by the previous call (nil at first), now the current time.
// Like Patroni: temporary slots are never touched, active slots are never dropped, a
// PostgreSQL 17 failover slot or synchronized copy is left to PostgreSQL, a
// slot whose type, database or plugin differs from the configuration is dropped and
// created again, and nothing unknown is dropped in pause. Unlike Patroni 3.0, an unknown
// slot is dropped only after it has been unknown for Grace.
func (t SlotTargets) Changes(have []SlotState, now time.Time, unexpectedSince map[string]time.Time) SlotChanges {
	want := map[string]Slot{}
	for _, s := range t.Want {
		want[s.Name] = s
	}
	ch := SlotChanges{Unexpected: map[string]time.Time{}}
	present := map[string]SlotState{}
	busy := map[string]bool{} // wanted, but ignored or of another kind and still in use
	for _, h := range have {
		w, wanted := want[h.Name]
		switch {
		case h.Temporary:
		case h.Synced:
			// PostgreSQL drops, creates and advances it (a synced slot cannot be changed).
			busy[h.Name] = wanted
		case h.Failover && !wanted:
			// A subscriber's failover slot: PostgreSQL keeps it on the standbys for it.
		case t.ignored(h):
			busy[h.Name] = wanted
		case wanted && sameKind(w, h):
			present[h.Name] = h
		case wanted && !h.Active:
			ch.Drop = append(ch.Drop, SlotDrop{h.Name, fmt.Sprintf("its configuration changed from %s to %s", describeSlot(h), w)})
		case wanted:
			busy[h.Name] = true
		case h.Active || t.Paused:
		default:
			since, seen := unexpectedSince[h.Name]
			if !seen {
				since = now
			}
			ch.Unexpected[h.Name] = since
			if now.Sub(since) >= t.Grace {
				ch.Drop = append(ch.Drop, SlotDrop{h.Name, fmt.Sprintf("it is not expected (no member or permanent slot uses it) for %s", now.Sub(since).Round(time.Second))})
				delete(ch.Unexpected, h.Name)
			}
		}
	}
	for _, w := range t.Want {
		h, ok := present[w.Name]
		switch {
		case busy[w.Name]:
		case !ok && (w.Type == SlotPhysical || t.Primary):
			ch.Create = append(ch.Create, w)
		case !ok:
			ch.Missing = append(ch.Missing, w.Name)
		case !t.Primary && w.Permanent:
			if to, published := t.Positions[w.Name]; published && to > h.Position() {
				ch.Advance = append(ch.Advance, SlotAdvance{Slot: w, From: h.Position(), To: to})
			}
		}
	}
	return ch
}

func (t SlotTargets) ignored(h SlotState) bool {
	for _, m := range t.Ignore {
		if m.Match(h) {
			return true
		}
	}
	return false
}

func sameKind(w Slot, h SlotState) bool {
	return w.Type == h.Type && (w.Type == SlotPhysical || (w.Database == h.Database && w.Plugin == h.Plugin))
}

func describeSlot(h SlotState) string {
	return Slot{Name: h.Name, Type: h.Type, Database: h.Database, Plugin: h.Plugin}.String()
}

// slotTargets: a node keeps one physical slot per member streaming from it (every
// other member for a primary, cascading ones for a replica) and every permanent slot; a replica (that may become primary) keeps the permanent slots, advanced to the
// leader's positions, so a promotion finds them in place.
func slotTargets(in Input, primary bool) SlotTargets {
	s := in.Settings
	t := SlotTargets{Ignore: s.IgnoreSlots, Primary: primary, Paused: s.Pause, Grace: s.TTL}
	taken := map[string]bool{}
	leader := s.Name
	if !primary {
		leader = in.Cluster.LeaderName()
	}
	for _, name := range slotsFor(in, leader) {
		taken[name] = true
		t.Want = append(t.Want, Slot{Name: name, Type: SlotPhysical})
	}
	if !primary {
		t.Positions = in.Cluster.Status.Slots
		if m, ok := in.Cluster.LeaderMember(); ok {
			t.Leader = &m
		}
	}
	if primary || !s.NoFailover {
		me := cluster.SlotName(s.Name)
		for _, p := range s.PermanentSlots {
			if taken[p.Name] || (p.Type == SlotPhysical && p.Name == me) {
				continue
			}
			p.Permanent = true
			t.Want = append(t.Want, p)
		}
	}
	sort.Slice(t.Want, func(i, j int) bool { return t.Want[i].Name < t.Want[j].Name })
	return t
}

// slotsToCopy are the permanent logical slots a replica lacks and the leader has
// published a position for: PostgreSQL cannot create them during recovery, so they are
// copied from the leader (Patroni's copy_logical_slots). After a failed copy the next
// attempt waits a ttl, as each one restarts PostgreSQL.
func slotsToCopy(in Input) []string {
	if in.PG.Slots == nil || (!in.SlotCopyFailed.IsZero() && in.Now.Sub(in.SlotCopyFailed) < in.Settings.TTL) {
		return nil
	}
	t := slotTargets(in, false)
	have := map[string]bool{}
	for _, h := range in.PG.Slots {
		have[h.Name] = true
	}
	var names []string
	for _, w := range t.Want {
		if _, published := t.Positions[w.Name]; w.Type == SlotLogical && published && !have[w.Name] {
			names = append(names, w.Name)
		}
	}
	return names
}

// pyList renders names the way Patroni logs a Python list: ['a', 'b'].
func pyList(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = "'" + n + "'"
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

func ensureSlots(in Input, primary bool) Action {
	t := slotTargets(in, primary)
	return Action{Kind: KindEnsureSlots, SlotTargets: &t}
}

func (t *SlotTargets) String() string {
	names := make([]string, 0, len(t.Want))
	for _, w := range t.Want {
		n := w.Name
		if w.Permanent {
			n += "*"
		}
		names = append(names, n)
	}
	return strings.Join(names, ",")
}
