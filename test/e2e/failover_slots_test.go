//go:build e2e

package e2e

import (
	"testing"
	"time"
)

// TestFailoverSlots (PostgreSQL 17+): a subscriber's logical slot created with
// failover = true and its copies that sync_replication_slots keeps on the standbys are
// PostgreSQL's: no agent drops them, however long they are unknown to the
// configuration, and after kill -9 of the primary the consumer carries on from the new
// primary with no change lost and none repeated.
func TestFailoverSlots(t *testing.T) {
	major := pgMajor(t)
	if major < 17 {
		t.Skipf("failover slots are PostgreSQL 17's; this is %d", major)
	}
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	c.bootstrapDCS = "      parameters:\n        wal_level: logical\n        sync_replication_slots: 'on'\n        hot_standby_feedback: 'on'\n"
	c.writeConfigs(fast)
	p := c.up(t)
	must(t, c.exec(p, "SELECT pg_create_logical_replication_slot('sub_fo', 'test_decoding', false, false, true)"))
	insert := func(from, to int) {
		for id := from; id <= to; id++ {
			must(t, c.exec(p, "INSERT INTO e2e_rows (id) VALUES ($1)", id))
		}
	}
	insert(1, 10)
	got, err := c.logicalChanges(p, "sub_fo")
	must(t, err)
	if len(got) != 10 {
		t.Fatalf("consumed %v before the failover, want ids 1..10", got)
	}
	began := time.Now()
	// A standby takes the slot once its position and catalog_xmin have moved past what the
	// standby itself guarantees: a standby snapshot logged and decoded moves them.
	c.eventually("both standbys to hold a synchronized copy of sub_fo at its position", 90*time.Second, func() bool {
		if c.exec(p, "SELECT pg_log_standby_snapshot()") != nil {
			return false
		}
		if ids, err := c.logicalChanges(p, "sub_fo"); err != nil || len(ids) > 0 {
			return false
		}
		pos, err := c.queryInt(p, "SELECT (confirmed_flush_lsn - '0/0')::bigint FROM pg_replication_slots WHERE slot_name = 'sub_fo'")
		if err != nil {
			return false
		}
		for _, r := range c.others(p) {
			v, err := c.queryInt(r, "SELECT (confirmed_flush_lsn - '0/0')::bigint FROM pg_replication_slots WHERE slot_name = 'sub_fo' AND synced AND failover")
			if err != nil || v < pos {
				return false
			}
		}
		return true
	})
	t.Logf("measured: sub_fo synchronized to both standbys at the consumer's position in %.1fs", time.Since(began).Seconds())

	// Watched for three ttls: an unknown slot is dropped after one.
	for deadline := time.Now().Add(3 * time.Duration(fast.ttl) * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		for _, n := range c.nodes {
			if !c.hasSlot(n, "sub_fo") {
				t.Fatalf("sub_fo is gone from %s", n.name)
			}
		}
	}
	for _, n := range c.nodes {
		if c.logContains(n, "slot=sub_fo") {
			t.Errorf("%s's agent touched sub_fo", n.name)
		}
	}

	insert(11, 20)
	for _, r := range c.others(p) {
		c.eventually(r.name+" to replay ids 11..20", 10*time.Second, func() bool {
			v, err := c.queryInt(r, "SELECT count(*) FROM e2e_rows")
			return err == nil && v == 20
		})
	}
	killed := time.Now()
	c.kill9(p)
	np, took := c.timeToWrite(killed, 21, 60*time.Second)
	t.Logf("measured: kill -9 of the primary -> first write on %s after %.2fs", np.name, took.Seconds())
	got, err = c.logicalChanges(np, "sub_fo")
	must(t, err)
	want := []int{11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21}
	if len(got) != len(want) {
		t.Fatalf("after the failover the consumer got %v, want %v (none lost, none repeated)", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("after the failover the consumer got %v, want %v", got, want)
		}
	}
}
