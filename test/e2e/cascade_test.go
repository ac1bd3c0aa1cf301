//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// streamsFrom reports whether pg_stat_replication on up shows a walsender for n.
func (c *testCluster) streamsFrom(n, up *node) bool {
	v, err := c.queryInt(up, "SELECT count(*) FROM pg_stat_replication WHERE application_name = '"+n.name+"' AND state = 'streaming'")
	return err == nil && v == 1
}

func (c *testCluster) hasSlot(on *node, slot string) bool {
	v, err := c.queryInt(on, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '"+slot+"'")
	return err == nil && v == 1
}

// topologyUnder reports whether `warden ctl topology` draws child on the line right
// under parent, one level deeper.
func topologyUnder(out, parent, child string) bool {
	lines := strings.Split(out, "\n")
	for i := 0; i+1 < len(lines); i++ {
		if strings.Contains(lines[i], "+ "+parent+" ") && strings.Contains(lines[i+1], "  + "+child+" ") {
			return true
		}
	}
	return false
}

// TestReplicatefromCascade: pg-2 tagged replicatefrom: pg-1 streams from the replica
// pg-1, which keeps its slot; topology draws the cascade; when pg-1 is killed pg-2
// streams from the leader, and goes back under pg-1 when it returns.
func TestReplicatefromCascade(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	up, cascading, leader := c.nodes[0], c.nodes[1], c.nodes[2]
	c.pgExtra = func(n *node) string {
		if n == cascading {
			return "tags:\n  replicatefrom: " + up.name + "\n"
		}
		return ""
	}
	c.writeConfigs(fast)
	c.start(leader)
	if p := c.waitPrimary(60 * time.Second); p != leader {
		t.Fatalf("primary is %s, want %s", p.name, leader.name)
	}
	c.start(up)
	c.waitReplica(up, 60*time.Second)
	c.start(cascading)
	c.waitReplica(cascading, 90*time.Second)

	c.eventually(cascading.name+" streaming from "+up.name, 30*time.Second, func() bool { return c.streamsFrom(cascading, up) })
	if v, err := c.queryInt(leader, "SELECT count(*) FROM pg_stat_replication WHERE application_name = '"+cascading.name+"'"); err != nil || v != 0 {
		t.Fatalf("the leader has %d walsenders for %s (err %v), want 0", v, cascading.name, err)
	}
	c.eventually("slot pg_2 on "+up.name+" and none on the leader", 20*time.Second, func() bool {
		return c.hasSlot(up, "pg_2") && !c.hasSlot(leader, "pg_2") && c.hasSlot(leader, "pg_1")
	})
	if v, err := c.queryInt(up, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'pg_2' AND active"); err != nil || v != 1 {
		t.Errorf("slot pg_2 on %s is not in use (%d, %v)", up.name, v, err)
	}
	topo := c.mustCtl("topology")
	if !topologyUnder(topo, up.name, cascading.name) {
		t.Fatalf("warden ctl topology does not draw %s under %s:\n%s", cascading.name, up.name, topo)
	}
	t.Logf("warden ctl topology:\n%s", topo)
	if _, err := os.Stat("/usr/bin/patronictl"); err == nil {
		if pt := c.patronictl("topology"); !topologyUnder(pt, up.name, cascading.name) {
			t.Errorf("patronictl topology does not draw %s under %s:\n%s", cascading.name, up.name, pt)
		}
	}
	must(t, c.exec(leader, "CREATE TABLE e2e_rows (id int PRIMARY KEY)"))
	must(t, c.exec(leader, "INSERT INTO e2e_rows VALUES (1)"))
	c.eventually("row 1 on "+cascading.name, 20*time.Second, func() bool {
		v, err := c.queryInt(cascading, "SELECT count(*) FROM e2e_rows")
		return err == nil && v == 1
	})

	killed := time.Now()
	c.kill9(up)
	c.eventually(cascading.name+" streaming from the leader", 60*time.Second, func() bool { return c.streamsFrom(cascading, leader) })
	t.Logf("%s streams from the leader %s after %s was killed (ttl %ds, loop_wait %ds)",
		cascading.name, time.Since(killed).Round(100*time.Millisecond), up.name, fast.ttl, fast.loopWait)
	if !c.logContains(cascading, "replicatefrom member "+up.name) {
		t.Errorf("%s's log does not say why it left %s", cascading.name, up.name)
	}
	must(t, c.exec(leader, "INSERT INTO e2e_rows VALUES (2)"))
	c.eventually("row 2 on "+cascading.name, 20*time.Second, func() bool {
		v, err := c.queryInt(cascading, "SELECT count(*) FROM e2e_rows")
		return err == nil && v == 2
	})

	restarted := time.Now()
	c.start(up)
	c.eventually(cascading.name+" back under "+up.name, 90*time.Second, func() bool { return c.streamsFrom(cascading, up) })
	t.Logf("%s streams from %s again %s after it was restarted", cascading.name, up.name, time.Since(restarted).Round(100*time.Millisecond))
	c.eventually("no walsender for "+cascading.name+" on the leader", 20*time.Second, func() bool {
		v, err := c.queryInt(leader, "SELECT count(*) FROM pg_stat_replication WHERE application_name = '"+cascading.name+"'")
		return err == nil && v == 0
	})
	must(t, c.exec(leader, "INSERT INTO e2e_rows VALUES (3)"))
	c.eventually("row 3 on "+cascading.name, 20*time.Second, func() bool {
		v, err := c.queryInt(cascading, "SELECT count(*) FROM e2e_rows")
		return err == nil && v == 3
	})
	c.eventually("the leader drops its slot for "+cascading.name, 30*time.Second, func() bool { return !c.hasSlot(leader, "pg_2") })
}

// TestNofailoverLastReplica: with the other replica stopped, killing the primary leaves
// only the nofailover replica: it stays a replica and the cluster has no leader until a
// member that may be promoted returns.
func TestNofailoverLastReplica(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	nf, other, leader := c.nodes[0], c.nodes[1], c.nodes[2]
	c.startTagged(nf, "nofailover: true", leader)
	c.start(nf)
	c.start(other)
	c.waitReplica(nf, 60*time.Second)
	c.waitReplica(other, 60*time.Second)
	must(t, c.exec(leader, "CREATE TABLE e2e_rows (id int PRIMARY KEY)"))
	must(t, c.exec(leader, "INSERT INTO e2e_rows VALUES (1)"))
	c.eventually("row 1 everywhere", 20*time.Second, func() bool {
		a, err1 := c.queryInt(nf, "SELECT count(*) FROM e2e_rows")
		b, err2 := c.queryInt(other, "SELECT count(*) FROM e2e_rows")
		return err1 == nil && err2 == nil && a == 1 && b == 1
	})
	c.stop(other)
	c.kill9(leader)

	// Three TTLs: the key expires after one, and the replica would have raced long since.
	watch := time.Duration(3*fast.ttl) * time.Second
	for end := time.Now().Add(watch); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if v, err := c.queryInt(nf, "SELECT CASE WHEN pg_is_in_recovery() THEN 1 ELSE 0 END"); err == nil && v != 1 {
			t.Fatalf("%s (nofailover) was promoted", nf.name)
		}
		if code := nf.health("/primary"); code == 200 {
			t.Fatalf("%s (nofailover) answers 200 on /primary", nf.name)
		}
	}
	if code := nf.health("/leader"); code == 200 {
		t.Errorf("%s answers 200 on /leader with no leader", nf.name)
	}
	if code := nf.health("/replica"); code != 200 {
		t.Errorf("%s: /replica = %d, want 200 (running replica)", nf.name, code)
	}
	if code := nf.health("/health"); code != 200 {
		t.Errorf("%s: /health = %d, want 200 (PostgreSQL running)", nf.name, code)
	}
	list := c.mustCtl("list")
	if strings.Contains(list, "| Leader ") {
		t.Errorf("warden ctl list shows a leader:\n%s", list)
	}
	if !c.logContains(nf, "I am not allowed to promote") {
		t.Errorf("%s's log does not say it may not promote", nf.name)
	}

	c.start(other)
	if p := c.waitPrimary(90 * time.Second); p != other {
		t.Fatalf("primary is %s, want %s", p.name, other.name)
	}
	c.eventually(nf.name+" streaming from "+other.name, 60*time.Second, func() bool { return c.streamsFrom(nf, other) })
	must(t, c.exec(other, "INSERT INTO e2e_rows VALUES (2)"))
	c.eventually("row 2 on "+nf.name, 20*time.Second, func() bool {
		v, err := c.queryInt(nf, "SELECT count(*) FROM e2e_rows")
		return err == nil && v == 2
	})
}

// TestNostream: a nostream replica has no primary_conninfo, no walreceiver and no slot
// on the primary, is never a sync standby, and gets rows by replaying the WAL archive.
func TestNostream(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	ns, other, leader := c.nodes[0], c.nodes[1], c.nodes[2]
	archive := filepath.Join(c.dir, "archive")
	must(t, os.Mkdir(archive, 0o700))
	must(t, os.Chown(archive, int(c.owner.uid), int(c.owner.gid)))
	c.pgExtra = func(n *node) string {
		s := fmt.Sprintf("    archive_mode: 'on'\n    archive_command: 'cp %%p %s/%%f'\n    archive_timeout: 0\n", archive)
		s += fmt.Sprintf("  recovery_conf:\n    restore_command: 'cp %s/%%f %%p'\n", archive)
		if n == ns {
			s += "tags:\n  nostream: true\n"
		}
		return s
	}
	c.writeConfigs(fast)
	c.start(leader)
	if p := c.waitPrimary(60 * time.Second); p != leader {
		t.Fatalf("primary is %s, want %s", p.name, leader.name)
	}
	c.start(other)
	c.waitReplica(other, 60*time.Second)
	c.start(ns)
	c.eventually(ns.name+" running as a replica", 90*time.Second, func() bool {
		st := ns.status()
		return ns.health("/replica") == 200 && st != nil && st["replication_state"] == "in archive recovery"
	})
	must(t, c.exec(leader, "CREATE TABLE e2e_rows (id int PRIMARY KEY)"))
	must(t, c.exec(leader, "INSERT INTO e2e_rows VALUES (1)"))
	must(t, c.exec(leader, "SELECT pg_switch_wal()"))
	began := time.Now()
	c.eventually("row 1 on "+ns.name+" from the archive", 60*time.Second, func() bool {
		v, err := c.queryInt(ns, "SELECT count(*) FROM e2e_rows")
		return err == nil && v == 1
	})
	t.Logf("%s replayed the row from the archive %s after the WAL switch", ns.name, time.Since(began).Round(100*time.Millisecond))
	if v, err := c.queryInt(ns, "SELECT count(*) FROM pg_stat_wal_receiver"); err != nil || v != 0 {
		t.Errorf("%s has a walreceiver (%d, %v)", ns.name, v, err)
	}
	if v, err := c.queryInt(ns, "SELECT count(*) FROM pg_settings WHERE name = 'primary_conninfo' AND setting <> ''"); err != nil || v != 0 {
		t.Errorf("%s has a primary_conninfo (%d, %v)", ns.name, v, err)
	}
	if v, err := c.queryInt(leader, "SELECT count(*) FROM pg_stat_replication WHERE application_name = '"+ns.name+"'"); err != nil || v != 0 {
		t.Errorf("the primary has a walsender for %s (%d, %v)", ns.name, v, err)
	}
	c.eventually("a slot for "+other.name+" only", 20*time.Second, func() bool { return c.hasSlot(leader, "pg_2") })
	if c.hasSlot(leader, "pg_1") {
		t.Errorf("the primary keeps a slot for the nostream member %s", ns.name)
	}
	st := ns.status()
	tags, _ := st["tags"].(map[string]any)
	if tags["nostream"] != true {
		t.Errorf("/patroni tags = %v, want nostream: true", st["tags"])
	}
	if list := c.mustCtl("list", "-t"); !strings.Contains(list, "nostream: true") {
		t.Errorf("warden ctl list -t does not show the nostream tag:\n%s", list)
	}

	// A new agent process finds the replica running without a WAL receiver: it knows
	// it needs none, and still applies a configuration change.
	pm := ns.postmasterPid()
	must(t, syscall.Kill(ns.agentPid(), syscall.SIGKILL))
	c.waitGone(ns, 0)
	if !alive(pm) {
		t.Fatalf("%s's postmaster died with its agent", ns.name)
	}
	c.start(ns)
	c.eventually(ns.name+"'s new agent running", 30*time.Second, func() bool { return ns.health("/replica") == 200 })
	c.mustCtl("edit-config", "-p", "work_mem=9MB", "--force")
	c.eventually("work_mem=9MB on "+ns.name, 30*time.Second, func() bool { return c.show(ns, "work_mem") == "9MB" })
	if v, err := c.queryInt(ns, "SELECT count(*) FROM pg_settings WHERE name = 'primary_conninfo' AND setting <> ''"); err != nil || v != 0 {
		t.Errorf("%s has a primary_conninfo after the agent restart (%d, %v)", ns.name, v, err)
	}
}

// addNode adds a fourth (fifth, ...) node to a cluster made by newCluster, before
// writeConfigs; its cleanup is newCluster's.
func (c *testCluster) addNode() *node {
	n := &node{name: fmt.Sprintf("pg-%d", len(c.nodes)+1), host: "127.0.0.1", pgPort: freePort(c.t), apiPort: freePort(c.t)}
	n.dir = filepath.Join(c.dir, n.name)
	must(c.t, os.Mkdir(n.dir, 0o700))
	must(c.t, os.Chown(n.dir, int(c.owner.uid), int(c.owner.gid)))
	n.config = filepath.Join(n.dir, "warden.yml")
	n.logPath = filepath.Join(n.dir, "warden.log")
	c.nodes = append(c.nodes, n)
	return n
}

// TestReplicatefromSurvivesSwitchover: a switchover between two other members moves
// the leader while pg-2 cascades from the replica pg-1; pg-1 follows the new leader and
// pg-2 keeps streaming from pg-1 onto the new timeline.
func TestReplicatefromSurvivesSwitchover(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	up, cascading, leader := c.nodes[0], c.nodes[1], c.nodes[2]
	candidate := c.addNode()
	c.pgExtra = func(n *node) string {
		if n == cascading {
			return "tags:\n  replicatefrom: " + up.name + "\n"
		}
		return ""
	}
	c.writeConfigs(fast)
	c.start(leader)
	if p := c.waitPrimary(60 * time.Second); p != leader {
		t.Fatalf("primary is %s, want %s", p.name, leader.name)
	}
	for _, n := range []*node{up, candidate, cascading} {
		c.start(n)
		c.waitReplica(n, 90*time.Second)
	}
	c.eventually(cascading.name+" streaming from "+up.name, 30*time.Second, func() bool { return c.streamsFrom(cascading, up) })
	must(t, c.exec(leader, "CREATE TABLE e2e_rows (id int PRIMARY KEY)"))
	must(t, c.exec(leader, "INSERT INTO e2e_rows VALUES (1)"))

	c.switchover(leader, candidate)
	began := time.Now()
	if p := c.waitPrimary(60 * time.Second); p != candidate {
		t.Fatalf("primary is %s, want %s", p.name, candidate.name)
	}
	c.eventually(up.name+" streaming from the new leader", 60*time.Second, func() bool { return c.streamsFrom(up, candidate) })
	c.eventually(cascading.name+" streaming from "+up.name+" on the new timeline", 60*time.Second, func() bool {
		tl, err := c.queryInt(cascading, "SELECT received_tli FROM pg_stat_wal_receiver")
		return err == nil && tl == 2 && c.streamsFrom(cascading, up)
	})
	t.Logf("%s cascades from %s on timeline 2 %s after the switchover", cascading.name, up.name, time.Since(began).Round(100*time.Millisecond))
	b, _ := os.ReadFile(cascading.logPath)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "changing primary_conninfo") {
			t.Logf("%s: %s", cascading.name, l)
		}
	}
	must(t, c.exec(candidate, "INSERT INTO e2e_rows VALUES (2)"))
	c.eventually("row 2 on "+cascading.name, 20*time.Second, func() bool {
		v, err := c.queryInt(cascading, "SELECT count(*) FROM e2e_rows")
		return err == nil && v == 2
	})
	if v, err := c.queryInt(candidate, "SELECT count(*) FROM pg_stat_replication WHERE application_name = '"+cascading.name+"'"); err != nil || v != 0 {
		t.Errorf("the new leader has %d walsenders for %s (err %v), want 0", v, cascading.name, err)
	}
	topo := c.mustCtl("topology")
	if !topologyUnder(topo, up.name, cascading.name) {
		t.Errorf("warden ctl topology does not draw %s under %s:\n%s", cascading.name, up.name, topo)
	}
}
