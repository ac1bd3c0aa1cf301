//go:build e2e

package e2e

import (
	"testing"
	"time"
)

// startTagged writes the configurations with tags (a YAML mapping body, e.g.
// "nofailover: true") for the tagged node only, starts leader and waits until it is
// the primary.
func (c *testCluster) startTagged(tagged *node, tags string, leader *node) {
	c.t.Helper()
	c.pgExtra = func(n *node) string {
		if n == tagged {
			// A top-level section: it follows the postgresql section, the file's last.
			return "tags:\n  " + tags + "\n"
		}
		return ""
	}
	c.writeConfigs(fast)
	c.start(leader)
	if p := c.waitPrimary(60 * time.Second); p != leader {
		c.t.Fatalf("primary is %s, want %s", p.name, leader.name)
	}
}

// TestClonefrom: a new member copies its data from the running replica tagged clonefrom
// rather than from the leader, then streams from the leader.
func TestClonefrom(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	first, second, late := c.nodes[0], c.nodes[1], c.nodes[2]
	c.pgExtra = func(n *node) string {
		if n == late {
			return ""
		}
		// A top-level section: it follows the postgresql section, the file's last.
		return "tags:\n  clonefrom: true\n"
	}
	c.writeConfigs(fast)
	c.start(first)
	c.start(second)
	p := c.waitPrimary(60 * time.Second)
	replica := first
	if p == first {
		replica = second
	}
	c.waitReplica(replica, 60*time.Second)
	must(t, c.exec(p, "CREATE TABLE e2e_rows (id int PRIMARY KEY)"))
	must(t, c.exec(p, "INSERT INTO e2e_rows VALUES (1)"))
	c.start(late)
	c.waitReplica(late, 60*time.Second)
	if !c.logContains(late, "trying to bootstrap from replica '"+replica.name+"'") {
		t.Fatalf("%s did not clone from the clonefrom replica %s", late.name, replica.name)
	}
	c.eventually(late.name+" to stream from the leader", 30*time.Second, func() bool {
		v, err := c.queryInt(p, "SELECT count(*) FROM pg_stat_replication WHERE application_name = '"+late.name+"'")
		return err == nil && v == 1
	})
	c.eventually("the row on "+late.name, 10*time.Second, func() bool {
		v, err := c.queryInt(late, "SELECT count(*) FROM e2e_rows")
		return err == nil && v == 1
	})
}
