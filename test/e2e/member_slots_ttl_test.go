//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
)

// TestMemberSlotsTTL (Patroni 4's member_slots_ttl): a replica stopped for longer than
// ttl keeps its slot on the primary, listed in /status retain_slots, and rejoins
// streaming from its own data directory although the primary switched WAL segments and
// checkpointed meanwhile; after a switchover the new leader keeps retaining it (it
// creates the slot from the previous leader's retain_slots); a retained slot whose WAL
// max_slot_wal_keep_size removed (wal_status = lost) is dropped and created again.
func TestMemberSlotsTTL(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), slotTimings)
	c.bootstrapDCS = "    member_slots_ttl: 300\n"
	c.writeConfigs(slotTimings)
	p := c.up(t)
	ttl := time.Duration(slotTimings.ttl) * time.Second
	replicas := c.others(p)
	gone, other := replicas[0], replicas[1]
	slot := cluster.SlotName(gone.name)
	c.eventually("member slot of "+gone.name, 30*time.Second, func() bool { return c.hasSlot(p, slot) })
	c.eventually("retain_slots listing both replicas", 30*time.Second, func() bool {
		rs := c.leaderStatus().RetainSlots
		return slices.Contains(rs, slot) && slices.Contains(rs, cluster.SlotName(other.name))
	})
	marker := filepath.Join(gone.dir, "data", "e2e_not_recloned")
	must(t, os.WriteFile(marker, []byte("x"), 0o600))

	c.stop(gone)
	c.eventually(gone.name+" to leave /cluster", 30*time.Second, func() bool { return !c.memberListed(p, gone.name) })
	left := time.Now()
	must(t, c.exec(p, "CREATE TABLE e2e_retain (id int)"))
	for i := 0; i < 4; i++ {
		must(t, c.exec(p, "INSERT INTO e2e_retain SELECT generate_series(1, 1000)"))
		must(t, c.exec(p, "SELECT pg_switch_wal()"))
	}
	must(t, c.exec(p, "CHECKPOINT"))
	for time.Since(left) < 2*ttl {
		if !c.hasSlot(p, slot) {
			t.Fatalf("%s's slot dropped %s after the member left (ttl %s, member_slots_ttl 300s)", gone.name, time.Since(left), ttl)
		}
		if !slices.Contains(c.leaderStatus().RetainSlots, slot) {
			t.Fatalf("/status retain_slots lost %s %s after the member left", slot, time.Since(left))
		}
		time.Sleep(250 * time.Millisecond)
	}
	want, err := c.queryInt(p, "SELECT count(*) FROM e2e_retain")
	must(t, err)
	c.start(gone)
	c.waitReplica(gone, 60*time.Second)
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("%s was cloned again: %v", gone.name, err)
	}
	c.eventually(gone.name+" to replay the rows written while it was away", 30*time.Second, func() bool {
		n, err := c.queryInt(gone, "SELECT count(*) FROM e2e_retain")
		return err == nil && n == want
	})
	t.Logf("%s rejoined from its own data directory after %s away (ttl %s)", gone.name, time.Since(left).Round(100*time.Millisecond), ttl)

	// Stopped again, then a switchover: the new leader keeps the departed member's slot.
	c.stop(gone)
	c.eventually(gone.name+" to leave /cluster", 30*time.Second, func() bool { return !c.memberListed(p, gone.name) })
	c.eventually("the switchover to be accepted", 30*time.Second, func() bool {
		code, _ := c.api(p, "POST", "/switchover", map[string]any{"leader": p.name, "candidate": other.name})
		return code == 200
	})
	c.eventually(other.name+" to be the primary", 60*time.Second, func() bool { return c.primary() == other })
	c.eventually("the new leader holding "+slot+" and listing it in retain_slots", 60*time.Second, func() bool {
		return c.hasSlot(other, slot) && slices.Contains(c.leaderStatus().RetainSlots, slot)
	})
	c.eventually("the new leader holding the former leader's slot", 60*time.Second, func() bool {
		return c.hasSlot(other, cluster.SlotName(p.name))
	})

	// A slot whose WAL was removed (wal_status = lost) is dropped and created again.
	newLeader := other
	if code, body := c.api(newLeader, "PATCH", "/config", map[string]any{
		"postgresql": map[string]any{"parameters": map[string]any{"max_slot_wal_keep_size": "16MB"}},
	}); code != 200 {
		t.Fatalf("PATCH /config: %d %s", code, body)
	}
	c.eventually("max_slot_wal_keep_size on the leader", 30*time.Second, func() bool {
		v, err := c.queryInt(newLeader, "SELECT setting::bigint FROM pg_settings WHERE name = 'max_slot_wal_keep_size'")
		return err == nil && v == 16
	})
	c.eventually("the lost slot "+slot+" to be dropped", 90*time.Second, func() bool {
		_ = c.exec(newLeader, "INSERT INTO e2e_retain SELECT generate_series(1, 1000)")
		_ = c.exec(newLeader, "SELECT pg_switch_wal()")
		_ = c.exec(newLeader, "CHECKPOINT")
		return c.logContains(newLeader, "dropped replication slot because its wal_status is lost")
	})
	c.eventually(slot+" created again", 30*time.Second, func() bool {
		v, err := c.queryInt(newLeader, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '"+slot+"' AND wal_status <> 'lost'")
		return err == nil && v == 1
	})
}
