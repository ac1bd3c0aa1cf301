//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/warden-ha/warden/internal/cluster"
)

// slotTimings: a ttl long enough that "survives a short absence" and "dropped after
// ttl" are told apart on a loaded machine.
var slotTimings = timings{ttl: 10, loopWait: 1, retryTimeout: 2, primaryStartTimeout: 300}

func (c *testCluster) memberListed(n *node, name string) bool {
	code, body := c.api(n, "GET", "/cluster", nil)
	if code != 200 {
		return true
	}
	var cl struct {
		Members []struct{ Name string } `json:"members"`
	}
	if json.Unmarshal([]byte(body), &cl) != nil {
		return true
	}
	for _, m := range cl.Members {
		if m.Name == name {
			return true
		}
	}
	return false
}

// leaderStatusSlots reads the slots the leader published in the /status key.
func (c *testCluster) leaderStatusSlots() map[string]uint64 { return c.leaderStatus().Slots }

// leaderStatus reads the /status key (zero when it cannot be read).
func (c *testCluster) leaderStatus() cluster.Status {
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.endpoints, DialTimeout: 2 * time.Second})
	if err != nil {
		return cluster.Status{}
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/service/"+c.scope+"/status")
	if err != nil || len(resp.Kvs) == 0 {
		return cluster.Status{}
	}
	return cluster.DecodeStatus(resp.Kvs[0].Value)
}

// logicalChanges consumes the slot's changes on n and returns the ids inserted into
// e2e_rows, in order.
func (c *testCluster) logicalChanges(n *node, slot string) ([]int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := connect(ctx, n)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, "SELECT data FROM pg_logical_slot_get_changes($1, NULL, NULL)", slot)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		var id int
		if _, err := fmt.Sscanf(data, "table public.e2e_rows: INSERT: id[integer]:%d", &id); err == nil {
			ids = append(ids, id)
		}
	}
	return ids, rows.Err()
}

// TestReplicationSlots: the primary keeps a slot per replica and the permanent slots;
// a replica's slot survives a short absence and is dropped once the member has been gone
// for ttl; a hand-made slot listed in ignore_slots is never dropped while an unlisted one
// is; replicas hold copies of the logical slot advanced to what its consumer confirmed,
// so after kill -9 of the primary the new primary has the permanent physical and
// logical slots and the consumer gets every change it had not confirmed, none twice.
func TestReplicationSlots(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), slotTimings)
	// Patroni 3's behaviour: a departed member's slot lives ttl (TestMemberSlotsTTL has 4's).
	c.bootstrapDCS = "    member_slots_ttl: 0\n"
	c.writeConfigs(slotTimings)
	// wal_level is one of the parameters only the dynamic configuration may set.
	for _, n := range c.nodes {
		b, err := os.ReadFile(n.config)
		must(t, err)
		yml := strings.Replace(string(b), "      use_slots: true\n", "      use_slots: true\n      parameters:\n        wal_level: logical\n", 1)
		must(t, os.WriteFile(n.config, []byte(yml), 0o600))
	}
	p := c.up(t)
	ttl := time.Duration(slotTimings.ttl) * time.Second
	replicas := c.others(p)
	gone := replicas[1]

	for _, r := range replicas {
		c.eventually("member slot of "+r.name, 30*time.Second, func() bool { return c.hasSlot(p, cluster.SlotName(r.name)) })
	}
	must(t, c.exec(p, "SELECT pg_create_physical_replication_slot('by_hand_kept')"))
	must(t, c.exec(p, "SELECT pg_create_physical_replication_slot('by_hand_dropped')"))
	handMade := time.Now()
	if code, body := c.api(p, "PATCH", "/config", map[string]any{
		"slots": map[string]any{
			"keep_phys": map[string]any{"type": "physical"},
			"cdc":       map[string]any{"type": "logical", "database": "postgres", "plugin": "test_decoding"},
		},
		"ignore_slots": []any{map[string]any{"name": "by_hand_kept"}},
	}); code != 200 {
		t.Fatalf("PATCH /config: %d %s", code, body)
	}
	c.eventually("the permanent slots on the primary", 30*time.Second, func() bool {
		return c.hasSlot(p, "keep_phys") && c.hasSlot(p, "cdc")
	})
	for _, r := range replicas {
		c.eventually("the permanent physical slot on "+r.name, 30*time.Second, func() bool { return c.hasSlot(r, "keep_phys") })
	}
	c.eventually("the leader publishing the cdc slot's position", 30*time.Second, func() bool {
		return c.leaderStatusSlots()["cdc"] > 0
	})
	c.eventually("the slot made by hand and not ignored to be dropped", 30*time.Second, func() bool {
		return !c.hasSlot(p, "by_hand_dropped")
	})
	if since := time.Since(handMade); since < ttl {
		t.Errorf("an unknown slot was dropped %s after it appeared, before ttl %s", since, ttl)
	}

	// A short absence: the member key is gone, the slot stays.
	c.stop(gone)
	c.eventually(gone.name+" to leave /cluster", 30*time.Second, func() bool { return !c.memberListed(p, gone.name) })
	left := time.Now()
	for time.Since(left) < ttl/2 {
		if !c.hasSlot(p, cluster.SlotName(gone.name)) {
			t.Fatalf("%s's slot dropped %s after the member left (ttl %s)", gone.name, time.Since(left), ttl)
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.start(gone)
	c.waitReplica(gone, 60*time.Second)
	if !c.hasSlot(p, cluster.SlotName(gone.name)) {
		t.Fatalf("%s's slot was dropped during a short absence", gone.name)
	}

	// A long absence: dropped, but not before ttl.
	c.stop(gone)
	c.eventually(gone.name+" to leave /cluster", 30*time.Second, func() bool { return !c.memberListed(p, gone.name) })
	left = time.Now()
	c.eventually(gone.name+"'s slot to be dropped", 60*time.Second, func() bool { return !c.hasSlot(p, cluster.SlotName(gone.name)) })
	if since := time.Since(left); since < ttl {
		t.Errorf("%s's slot dropped %s after the member left, before ttl %s", gone.name, since, ttl)
	}
	t.Logf("%s's slot dropped %s after its member key disappeared (ttl %s)", gone.name, time.Since(left).Round(100*time.Millisecond), ttl)
	if st := c.leaderStatus(); st.RetainSlots != nil {
		t.Errorf("member_slots_ttl 0, yet /status has retain_slots %v", st.RetainSlots)
	}
	if !c.hasSlot(p, "by_hand_kept") {
		t.Fatal("the slot listed in ignore_slots was dropped")
	}
	c.start(gone)
	c.waitReplica(gone, 60*time.Second)
	c.eventually("the slot of "+gone.name+" again", 30*time.Second, func() bool { return c.hasSlot(p, cluster.SlotName(gone.name)) })

	// The replicas hold copies of the logical slot, kept at the leader's position with
	// hot_standby_feedback on.
	for _, r := range c.others(p) {
		c.eventually("a copy of the logical slot on "+r.name, 60*time.Second, func() bool { return c.hasSlot(r, "cdc") })
		if v, err := c.queryInt(r, "SELECT CASE WHEN current_setting('hot_standby_feedback')::bool THEN 1 ELSE 0 END"); err != nil || v != 1 {
			t.Errorf("%s: hot_standby_feedback is not on (%d, %v)", r.name, v, err)
		}
		if !c.logContains(r, "Copying logical slots ['cdc'] from the primary") {
			t.Errorf("%s: no log line about copying the slot", r.name)
		}
	}
	must(t, c.exec(p, "INSERT INTO e2e_rows SELECT generate_series(1, 5)"))
	ids, err := c.logicalChanges(p, "cdc")
	if err != nil || fmt.Sprint(ids) != "[1 2 3 4 5]" {
		t.Fatalf("changes on the primary: %v %v", ids, err)
	}
	consumed, err := c.queryInt(p, "SELECT confirmed_flush_lsn - '0/0' FROM pg_replication_slots WHERE slot_name = 'cdc'")
	must(t, err)
	for _, r := range c.others(p) {
		c.eventually("the copy on "+r.name+" advanced to what the consumer confirmed", 60*time.Second, func() bool {
			v, err := c.queryInt(r, "SELECT confirmed_flush_lsn - '0/0' FROM pg_replication_slots WHERE slot_name = 'cdc'")
			return err == nil && v >= consumed
		})
	}
	for _, r := range c.others(p) {
		c.eventually("the copy on "+r.name+" to be safe to use after a failover", 60*time.Second, func() bool {
			return c.logContains(r, "Logical slot cdc is safe to be used after a failover")
		})
	}
	// Written but not yet consumed when the primary dies: the consumer must still get them.
	must(t, c.exec(p, "INSERT INTO e2e_rows SELECT generate_series(6, 10)"))
	for _, r := range c.others(p) {
		c.eventually("rows 6-10 replayed on "+r.name, 30*time.Second, func() bool {
			v, err := c.queryInt(r, "SELECT count(*) FROM e2e_rows WHERE id BETWEEN 6 AND 10")
			return err == nil && v == 5
		})
	}

	// Failover.
	c.kill9(p)
	np := c.waitPrimary(90 * time.Second)
	c.eventually("the permanent slots on the new primary "+np.name, 30*time.Second, func() bool {
		return c.hasSlot(np, "keep_phys") && c.hasSlot(np, "cdc")
	})
	if c.logContains(np, "might be unsafe to use after promote") {
		t.Errorf("%s promoted with a copy not known to be safe", np.name)
	}
	must(t, c.exec(np, "INSERT INTO e2e_rows SELECT generate_series(100, 104)"))
	ids, err = c.logicalChanges(np, "cdc")
	if err != nil {
		t.Fatalf("changes on the new primary: %v", err)
	}
	if fmt.Sprint(ids) != "[6 7 8 9 10 100 101 102 103 104]" {
		t.Fatalf("changes on the new primary = %v, want the unconsumed rows from before the failover and the rows after it", ids)
	}
	for _, r := range c.others(p) {
		if r != np {
			c.eventually("member slot of "+r.name+" on the new primary", 30*time.Second, func() bool { return c.hasSlot(np, cluster.SlotName(r.name)) })
		}
	}
}
