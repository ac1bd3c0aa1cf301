//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestDuplicateNameRefused: an agent started with the name of a member that is running
// (its member key's api_url answers) refuses to start, in Patroni 4's words, without
// touching PostgreSQL or the running member; the same agent killed and restarted (its
// old key still there, nobody answering) starts. The conflicting-tag warning is given in
// Patroni's words at start.
func TestDuplicateNameRefused(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	first := c.nodes[0]
	c.pgExtra = func(n *node) string {
		return "tags:\n  nofailover: false\n  failover_priority: 0\n"
	}
	c.writeConfigs(fast)
	c.startFirst()
	if !c.logContains(first, "tags.nofailover: Conflicting configuration between nofailover: False and failover_priority: 0. Defaulting to nofailover: False") {
		t.Errorf("no conflicting-tag warning in %s's log", first.name)
	}
	key, _ := c.dcsKey("members/" + first.name)

	// The namesake runs on another "machine": its own directory and ports.
	other := c.nodes[1]
	namesake := &node{name: first.name, host: other.host, pgPort: freePort(t), apiPort: freePort(t), dir: other.dir}
	out, took := c.failedStart(other, "namesake.yml", c.configFor(namesake, fast), nil, 15*time.Second)
	if !strings.Contains(out, "Can't start; there is already a node named '"+first.name+"' running") {
		t.Fatalf("the namesake's output:\n%s", out)
	}
	t.Logf("the namesake refused to start after %s", took.Round(10*time.Millisecond))
	if now, _ := c.dcsKey("members/" + first.name); !strings.Contains(now, fmt.Sprintf(":%d/patroni", first.apiPort)) || first.health("/primary") != 200 {
		t.Errorf("the running member was disturbed: key %s (was %s), /primary %d", now, key, first.health("/primary"))
	}

	c.kill9(first)
	c.start(first)
	c.eventually(first.name+" back as the primary after a kill -9 and restart", 60*time.Second, func() bool {
		return first.health("/primary") == 200
	})
}
