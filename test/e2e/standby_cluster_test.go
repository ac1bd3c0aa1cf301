//go:build e2e

package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// standbyLeader returns the single node answering 200 on /standby-leader, or nil.
func (c *testCluster) standbyLeader() *node { return c.onlyOne("/standby-leader", "standby leaders") }

func (c *testCluster) waitStandbyLeader(timeout time.Duration) *node {
	c.t.Helper()
	var l *node
	c.eventually("a standby leader", timeout, func() bool { l = c.standbyLeader(); return l != nil })
	return l
}

// waitRow waits until the row id has replicated to n.
func (c *testCluster) waitRow(n *node, id int, timeout time.Duration) {
	c.t.Helper()
	c.eventually(fmt.Sprintf("row %d on %s", id, n.name), timeout, func() bool {
		v, err := c.queryInt(n, fmt.Sprintf("SELECT count(*) FROM e2e_rows WHERE id = %d", id))
		return err == nil && v == 1
	})
}

// assertStandbyCluster checks that no member of the standby cluster is a primary: every
// PostgreSQL is in recovery and /primary answers 503 everywhere.
func (c *testCluster) assertStandbyCluster(members []*node) {
	c.t.Helper()
	for _, n := range members {
		if code := n.health("/primary"); code != 503 {
			c.t.Errorf("%s: /primary = %d in a standby cluster, want 503", n.name, code)
		}
		if v, err := c.queryInt(n, "SELECT pg_is_in_recovery()::int"); err != nil || v != 1 {
			c.t.Errorf("%s: pg_is_in_recovery() = %d (%v), want true", n.name, v, err)
		}
	}
}

// newStandbyCluster prepares (but does not start) a standby cluster of three nodes
// replicating from the source's primary p, in its own scope; extra is added to its
// standby_cluster section (lines indented six spaces).
func newStandbyCluster(t *testing.T, endpoints []string, src *testCluster, p *node, extra string) *testCluster {
	sc := newCluster(t, endpoints, fast)
	sc.scope = src.scope + "-standby"
	sc.bootstrapDCS = fmt.Sprintf("    standby_cluster:\n      host: %s\n      port: %d\n%s", p.host, p.pgPort, extra)
	sc.writeConfigs(fast)
	return sc
}

// promoteStandbyCluster removes standby_cluster from the configuration (with ctlArgs, by
// that warden ctl command; else edit-config) and checks that the standby leader takes the
// first write (row 100) and the others replicate it.
func (c *testCluster) promoteStandbyCluster(leader *node, label string, ctlArgs ...string) {
	c.t.Helper()
	if len(ctlArgs) == 0 {
		ctlArgs = []string{"edit-config", "-s", "standby_cluster=null", "--force"}
	}
	began := time.Now()
	out := c.mustCtl(ctlArgs...)
	w, took := c.timeToWrite(began, 100, 60*time.Second)
	c.t.Logf("measured: %s%s removing standby_cluster -> first write accepted on %s after %.2fs", label, ctlArgs[0], w.name, took.Seconds())
	if ctlArgs[0] == "promote-cluster" && !strings.Contains(out, "cluster is successfully promoted") {
		c.t.Errorf("warden ctl promote-cluster:\n%s", out)
	}
	if w != leader {
		c.t.Errorf("the write went to %s, want the standby leader %s promoted", w.name, leader.name)
	}
	for _, n := range c.others(leader) {
		c.waitReplica(n, 60*time.Second)
		c.waitRow(n, 100, 30*time.Second)
	}
}

func timelineOf(n *node) int {
	tl, _ := n.status()["timeline"].(float64)
	return int(tl)
}

// TestStandbyCluster runs a standby cluster beside a normal "source" cluster in the same
// etcd: it bootstraps from the source's primary through a permanent slot, replicates
// its writes to every member, fails over inside itself without promoting, and is
// promoted by removing standby_cluster from its configuration.
func TestStandbyCluster(t *testing.T) {
	endpoints := startEmbeddedEtcd(t)
	src := newCluster(t, endpoints, fast)
	p := src.up(t)
	src.mustCtl("edit-config", "-s", "slots.standby_dr.type=physical", "--force")
	src.eventually("permanent slot standby_dr on the source primary", 30*time.Second, func() bool {
		v, err := src.queryInt(p, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'standby_dr'")
		return err == nil && v == 1
	})
	must(t, src.exec(p, "INSERT INTO e2e_rows (id) VALUES (1)"))

	sc := newStandbyCluster(t, endpoints, src, p, "      primary_slot_name: standby_dr\n")
	began := time.Now()
	for _, n := range sc.nodes {
		sc.start(n)
	}

	// a) bootstrap from the source; every member replicates its writes.
	leader := sc.waitStandbyLeader(90 * time.Second)
	for _, n := range sc.others(leader) {
		sc.waitReplica(n, 90*time.Second)
	}
	t.Logf("measured: standby cluster of 3 up (standby leader %s, replicas streaming) %.1fs after start", leader.name, time.Since(began).Seconds())
	if !sc.logContains(leader, "trying to bootstrap a new standby leader") || !sc.logContains(leader, "promoted self to a standby leader by acquiring session lock") {
		t.Errorf("%s's log does not show the standby leader bootstrap", leader.name)
	}
	must(t, src.exec(p, "INSERT INTO e2e_rows (id) VALUES (2)"))
	for _, n := range sc.nodes {
		sc.waitRow(n, 1, 30*time.Second)
		sc.waitRow(n, 2, 30*time.Second)
	}
	sc.assertStandbyCluster(sc.nodes)
	if role := leader.status()["role"]; role != "standby_leader" {
		t.Errorf("%s: /patroni role = %v, want standby_leader", leader.name, role)
	}
	for _, n := range sc.nodes {
		wantReplica, wantReadOnly := 200, 200
		if n == leader {
			wantReplica = 503 // a standby leader is not a load-balanced replica
		}
		if got := n.health("/replica"); got != wantReplica {
			t.Errorf("%s: /replica = %d, want %d", n.name, got, wantReplica)
		}
		if got := n.health("/read-only"); got != wantReadOnly {
			t.Errorf("%s: /read-only = %d, want %d", n.name, got, wantReadOnly)
		}
		if got, want := n.health("/leader"), map[bool]int{true: 200, false: 503}[n == leader]; got != want {
			t.Errorf("%s: /leader = %d, want %d", n.name, got, want)
		}
	}
	if m := getBody(leader, "/metrics"); !strings.Contains(m, fmt.Sprintf("patroni_standby_leader{name=%q,scope=%q} 1", leader.name, sc.scope)) {
		t.Errorf("%s: /metrics does not report patroni_standby_leader 1", leader.name)
	}
	src.eventually("the source's slot standby_dr in use by the standby leader", 30*time.Second, func() bool {
		v, err := src.queryInt(p, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'standby_dr' AND active")
		return err == nil && v == 1
	})
	list := sc.mustCtl("list")
	if !strings.Contains(list, "| "+leader.name) || strings.Count(list, "Standby Leader") != 1 || strings.Count(list, "Replica") != 2 {
		t.Errorf("warden ctl list:\n%s", list)
	}
	if _, err := exec.LookPath("patronictl"); err == nil {
		out := sc.patronictl("list")
		if strings.Count(out, "Standby Leader") != 1 || strings.Count(out, "Replica") != 2 {
			t.Errorf("patronictl list:\n%s", out)
		}
	}
	tl := timelineOf(leader)
	if tl == 0 {
		t.Fatalf("%s reports no timeline", leader.name)
	}

	// b) kill -9 of the standby leader: another member takes over, still a standby.
	old := leader
	began = time.Now()
	sc.kill9(old)
	var next *node
	sc.eventually("a new standby leader", 60*time.Second, func() bool { next = sc.standbyLeader(); return next != nil && next != old })
	took := time.Since(began)
	t.Logf("measured: kill -9 of standby leader %s -> %s is standby leader after %.2fs (ttl %ds, loop_wait %ds)", old.name, next.name, took.Seconds(), fast.ttl, fast.loopWait)
	if !sc.logContains(next, "promoted self to a standby leader by acquiring session lock") {
		t.Errorf("%s's log does not say it became the standby leader", next.name)
	}
	survivors := sc.others(old)
	must(t, src.exec(p, "INSERT INTO e2e_rows (id) VALUES (3)"))
	for _, n := range survivors {
		sc.waitRow(n, 3, 60*time.Second)
	}
	sc.assertStandbyCluster(survivors)
	for _, n := range survivors {
		if got := timelineOf(n); got != tl {
			t.Errorf("%s: timeline %d after the failover inside the standby cluster, want %d (no promotion)", n.name, got, tl)
		}
	}
	sc.start(old)
	sc.waitReplica(old, 90*time.Second)
	must(t, src.exec(p, "INSERT INTO e2e_rows (id) VALUES (4)"))
	for _, n := range sc.nodes {
		sc.waitRow(n, 4, 60*time.Second)
	}
	sc.assertStandbyCluster(sc.nodes)

	// A switchover inside the standby cluster moves the standby leader, still no promotion.
	began = time.Now()
	sc.switchover(next, old)
	sc.eventually(old.name+" to be the standby leader after the switchover", 30*time.Second, func() bool { return sc.standbyLeader() == old })
	t.Logf("measured: switchover of the standby leader %s -> %s in %.2fs", next.name, old.name, time.Since(began).Seconds())
	sc.waitReplica(next, 60*time.Second)
	must(t, src.exec(p, "INSERT INTO e2e_rows (id) VALUES (6)"))
	for _, n := range sc.nodes {
		sc.waitRow(n, 6, 60*time.Second)
	}
	sc.assertStandbyCluster(sc.nodes)
	if got := timelineOf(old); got != tl {
		t.Errorf("%s: timeline %d after the switchover inside the standby cluster, want %d", old.name, got, tl)
	}
	next = old

	// c) promotion: standby_cluster removed from the configuration.
	sc.promoteStandbyCluster(next, "")
	if pr := sc.waitPrimary(10 * time.Second); pr != next {
		t.Errorf("primary is %s, want %s", pr.name, next.name)
	}
	if got := timelineOf(next); got <= tl {
		t.Errorf("promoted leader's timeline %d, want above %d", got, tl)
	}
	if hist := sc.mustCtl("history"); !strings.Contains(hist, next.name) {
		t.Errorf("warden ctl history does not record the promotion of %s:\n%s", next.name, hist)
	}
	if list := sc.mustCtl("list"); strings.Contains(list, "Standby Leader") || strings.Count(list, "Leader") != 1 {
		t.Errorf("warden ctl list after the promotion:\n%s", list)
	}
	// The source cluster is untouched and no longer replicates into the promoted one.
	if pr := src.waitPrimary(10 * time.Second); pr != p {
		t.Errorf("source primary changed to %s", pr.name)
	}
	must(t, src.exec(p, "INSERT INTO e2e_rows (id) VALUES (5)"))
	time.Sleep(2 * time.Second)
	if v, err := sc.queryInt(next, "SELECT count(*) FROM e2e_rows WHERE id = 5"); err != nil || v != 0 {
		t.Errorf("row 5 written on the source reached the promoted cluster (%d, %v)", v, err)
	}

	// d) standby_cluster added to the running cluster (Patroni's behaviour): the primary
	// keeps the key, stops at once and comes back as the standby leader. Its timeline
	// forked off the source's, so it is rewound from the source (row 5, written on the
	// source after the split, arrives); the replicas, now on a later timeline than the
	// standby leader, are rewound from it.
	began = time.Now()
	sc.mustCtl("edit-config", "-s", "standby_cluster.host="+p.host, "-s", fmt.Sprintf("standby_cluster.port=%d", p.pgPort), "--force")
	id := 200
	sc.eventually(next.name+" to stop accepting writes", 30*time.Second, func() bool {
		id++
		_, ok := sc.writeOnce(id)
		return !ok
	})
	t.Logf("measured: edit-config adding standby_cluster -> no member accepts writes after %.2fs", time.Since(began).Seconds())
	sc.eventually(next.name+" to be the standby leader again", 30*time.Second, func() bool { return sc.standbyLeader() == next })
	if !sc.logContains(next, "cannot be a real primary in standby cluster") {
		t.Errorf("%s's log does not show the demotion of the primary in the standby cluster", next.name)
	}
	must(t, src.exec(p, "INSERT INTO e2e_rows (id) VALUES (7)"))
	for _, n := range sc.nodes {
		sc.waitRow(n, 5, 90*time.Second)
		sc.waitRow(n, 7, 90*time.Second)
	}
	t.Logf("measured: edit-config adding standby_cluster -> every member rewound and replicating from the source after %.2fs", time.Since(began).Seconds())
	sc.assertStandbyCluster(sc.nodes)
	for _, n := range sc.nodes {
		if v, err := sc.queryInt(n, "SELECT count(*) FROM e2e_rows WHERE id = 100"); err != nil || v != 0 {
			t.Errorf("%s still has row 100, written after the promotion (%d, %v): not rewound to the source", n.name, v, err)
		}
	}
	if !sc.logContains(next, "running pg_rewind from remote_member:") {
		t.Errorf("%s's log does not show pg_rewind from the remote primary", next.name)
	}
}

// TestStandbyClusterSourceLost is the disaster the standby cluster exists for: the
// source cluster is gone. The standby cluster keeps a standby leader (a kill -9 of it
// still fails over, with the remote unreachable) and is promoted to take the writes.
func TestStandbyClusterSourceLost(t *testing.T) {
	endpoints := startEmbeddedEtcd(t)
	src := newCluster(t, endpoints, fast)
	p := src.up(t)
	must(t, src.exec(p, "INSERT INTO e2e_rows (id) VALUES (1)"))
	sc := newStandbyCluster(t, endpoints, src, p, "")
	for _, n := range sc.nodes {
		sc.start(n)
	}
	leader := sc.waitStandbyLeader(90 * time.Second)
	for _, n := range sc.others(leader) {
		sc.waitReplica(n, 90*time.Second)
	}
	for _, n := range sc.nodes {
		sc.waitRow(n, 1, 30*time.Second)
	}
	// Patroni 4.1's cluster_type: the standby leader keeps only the slot meant for a
	// standby cluster; after the promotion below the primary keeps only the other.
	sc.mustCtl("edit-config", "-s", "slots.for_primary.cluster_type=primary", "-s", "slots.for_standby.cluster_type=standby", "--force")
	sc.eventually("slot for_standby on the standby leader", 30*time.Second, func() bool { return sc.hasSlot(leader, "for_standby") })
	if sc.hasSlot(leader, "for_primary") {
		t.Errorf("%s, a standby leader, has the slot for_primary (cluster_type: primary)", leader.name)
	}

	for _, n := range src.nodes {
		src.kill9(n)
	}
	began := time.Now()
	sc.kill9(leader)
	var next *node
	sc.eventually("a new standby leader with the source gone", 60*time.Second, func() bool { next = sc.standbyLeader(); return next != nil && next != leader })
	t.Logf("measured: source lost, kill -9 of standby leader %s -> %s is standby leader after %.2fs", leader.name, next.name, time.Since(began).Seconds())
	// The key is taken first, the follow runs in the worker after it.
	sc.eventually(next.name+" to log that the remote could not be checked", 30*time.Second, func() bool {
		return sc.logContains(next, "following it without the check")
	})
	sc.start(leader)
	sc.eventually(leader.name+" running as a standby again", 60*time.Second, func() bool {
		st := leader.status()
		return st != nil && st["state"] == "running" && st["role"] == "replica"
	})
	sc.assertStandbyCluster(sc.nodes)

	// Patroni 4.1's promote-cluster: PATCH /config, then wait for a running primary.
	sc.promoteStandbyCluster(next, "source lost, ", "promote-cluster", "--force")
	sc.eventually("slot for_primary on the promoted primary, for_standby dropped", 60*time.Second, func() bool {
		return sc.hasSlot(next, "for_primary") && !sc.hasSlot(next, "for_standby")
	})
}

// TestStandbyClusterReplicaMethod: standby_cluster.create_replica_methods creates the
// standby leader with a custom method (a postgresql section that
// postgresql.create_replica_methods does not list), given --connstring of the remote
// primary, as in Patroni; the other members clone from the standby leader as usual.
func TestStandbyClusterReplicaMethod(t *testing.T) {
	endpoints := startEmbeddedEtcd(t)
	src := newCluster(t, endpoints, fast)
	p := src.up(t)
	must(t, src.exec(p, "INSERT INTO e2e_rows (id) VALUES (1)"))
	sc := newStandbyCluster(t, endpoints, src, p, "      create_replica_methods: [dr_copy, basebackup]\n")
	record := func(n *node) string { return filepath.Join(n.dir, "dr_copy.log") }
	sc.pgExtra = func(n *node) string {
		path := sc.basebackupMethod(n, "dr_copy.sh", record(n))
		return fmt.Sprintf("  dr_copy:\n    command: %s\n    site: dr\n", path)
	}
	sc.writeConfigs(fast)
	for _, n := range sc.nodes {
		sc.start(n)
	}
	leader := sc.waitStandbyLeader(90 * time.Second)
	for _, n := range sc.others(leader) {
		sc.waitReplica(n, 90*time.Second)
	}
	must(t, src.exec(p, "INSERT INTO e2e_rows (id) VALUES (2)"))
	for _, n := range sc.nodes {
		sc.waitRow(n, 2, 30*time.Second)
	}
	sc.assertStandbyCluster(sc.nodes)

	got := readLines(record(leader))
	remoteDSN := fmt.Sprintf("dbname=postgres user=replicator host=%s port=%d", p.host, p.pgPort)
	want := fmt.Sprintf("args --scope=%s --role=replica --datadir=%s/data --connstring=%s", sc.scope, leader.dir, remoteDSN)
	if len(got) != 2 || !strings.HasPrefix(got[0], want) || !strings.HasSuffix(got[0], " --site=dr") || got[1] != "pgpassfile "+filepath.Join(leader.dir, "pgpass") {
		t.Fatalf("%s: dr_copy record %q, want the arguments starting %q and ending --site=dr, then PGPASSFILE", leader.name, got, want)
	}
	if !sc.logContains(leader, "replica has been created using dr_copy") {
		t.Errorf("%s: the standby leader was not created by dr_copy", leader.name)
	}
	for _, n := range sc.others(leader) {
		if lines := readLines(record(n)); len(lines) != 0 {
			t.Errorf("%s ran dr_copy (%q): members clone from the standby leader with postgresql.create_replica_methods", n.name, lines)
		}
	}
}
