//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestPatroniDialects: a Warden cluster speaks Patroni 3's words (master) by default in a
// new cluster and Patroni 4's (primary) when the first node is set to
// warden.patroni_version 4 and the others, on auto, follow its member key: the role in
// the member keys and /patroni, the callbacks' role argument, the version in /patroni and
// the patroni_master metric, a replica's state in /cluster (running, streaming).
// patronictl 3.0.2 and 4.1 list the cluster in both.
func TestPatroniDialects(t *testing.T) {
	for _, tc := range []struct {
		name, first, primary, version string
	}{
		{"patroni3 by default", "", "master", "3.0.2"},
		{"patroni4 followed", "warden:\n  patroni_version: 4\n", "primary", "4.1.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, startEmbeddedEtcd(t), fast)
			c.pgExtra = func(n *node) string {
				extra := c.recordCallbacks(n)
				if n == c.nodes[0] {
					extra += tc.first
				}
				return extra
			}
			c.writeConfigs(fast)
			first := c.startFirst()
			for _, n := range c.others(first) {
				c.start(n)
			}
			for _, n := range c.others(first) {
				c.waitReplica(n, 60*time.Second)
			}
			c.waitCalls(first, 0, "on_start "+tc.primary)
			c.checkDialect(first, tc.primary, tc.version)

			// A node on auto promoted by a switchover speaks the same.
			target := c.nodes[1]
			c.switchover(first, target)
			c.waitReplica(first, 60*time.Second)
			c.waitCalls(target, 1, "on_role_change "+tc.primary)
			c.checkDialect(target, tc.primary, tc.version)
			c.waitCalls(first, 1, "on_role_change replica")

			// patronictl 3.0.2 shows a replica's state (running), 4.1 its replication state.
			for ctl, replicaState := range map[string]string{"patronictl": "running", patronictl4: "streaming"} {
				var out string
				c.eventually(ctl+" list showing the leader and two replicas", 20*time.Second, func() bool {
					out = c.patronictlOf(ctl, "list")
					for _, n := range c.nodes {
						role, state := "Replica", replicaState
						if n == target {
							role, state = "Leader", "running"
						}
						if !regexp.MustCompile(`\| ` + n.name + ` +\| [^|]+\| ` + role + ` +\| ` + state + ` `).MatchString(out) {
							return false
						}
					}
					return true
				})
				t.Logf("%s list:\n%s", ctl, out)
			}
		})
	}
}

// recordCallbacks configures on_start and on_role_change with a script recording its
// arguments in the node's callbacks.log (read by waitCalls).
func (c *testCluster) recordCallbacks(n *node) string {
	script := c.script(n, "callback.sh", fmt.Sprintf("echo \"$1 $2 $3\" >> %s\n", filepath.Join(n.dir, "callbacks.log")))
	return fmt.Sprintf("  callbacks:\n    on_start: %s\n    on_role_change: %s\n", script, script)
}

// checkDialect: the primary p's member key and /patroni say role, /patroni's version is
// version, and /metrics has patroni_master only in Patroni 3's words.
func (c *testCluster) checkDialect(p *node, role, version string) {
	c.t.Helper()
	var key map[string]any
	c.eventually(p.name+"'s member key to say "+role, 20*time.Second, func() bool {
		v, _ := c.dcsKey("members/" + p.name)
		return json.Unmarshal([]byte(v), &key) == nil && key["role"] == role
	})
	if key["version"] != "3.0.2" {
		c.t.Errorf("member key version %v, want 3.0.2 (the slot protocol Warden speaks)", key["version"])
	}
	st := p.status()
	if st["role"] != role || st["patroni"].(map[string]any)["version"] != version {
		c.t.Errorf("/patroni: role %v version %v, want %s %s", st["role"], st["patroni"], role, version)
	}
	replicaState := map[string]string{"master": "running", "primary": "streaming"}[role]
	c.eventually("/cluster showing the replicas as "+replicaState, 20*time.Second, func() bool {
		var cl struct {
			Members []struct{ Name, Role, State string }
		}
		if json.Unmarshal([]byte(getBody(p, "/cluster")), &cl) != nil || len(cl.Members) != len(c.nodes) {
			return false
		}
		for _, m := range cl.Members {
			if m.Role == "replica" && m.State != replicaState {
				return false
			}
		}
		return true
	})
	metrics := getBody(p, "/metrics")
	if strings.Contains(metrics, "patroni_master{") != (role == "master") {
		c.t.Errorf("/metrics in Patroni %s's words:\n%s", version, metrics)
	}
	for _, n := range c.others(p) {
		if b, _ := os.ReadFile(filepath.Join(n.dir, "callbacks.log")); strings.Contains(string(b), map[string]string{"master": "primary", "primary": "master"}[role]) {
			c.t.Errorf("%s's callbacks used the other dialect's word:\n%s", n.name, b)
		}
	}
}

// TestDemotedCallbackPatroni4: speaking Patroni 4, a leader whose PostgreSQL crashes and
// then fails to start gives up the leader key with on_role_change demoted (Patroni 4's
// post_recover); a replica takes over.
func TestDemotedCallbackPatroni4(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	c.nodes = c.nodes[:2]
	c.pgExtra = func(n *node) string { return c.recordCallbacks(n) + "warden:\n  patroni_version: 4\n" }
	c.writeConfigs(fast)
	first := c.startFirst()
	second := c.nodes[1]
	c.start(second)
	c.waitReplica(second, 60*time.Second)
	c.waitCalls(first, 0, "on_start primary")
	// The next start fails: PostgreSQL cannot load a library that does not exist.
	must(t, c.exec(first, "ALTER SYSTEM SET shared_preload_libraries = 'warden_missing_library'"))
	must(t, killGroup(first.postmasterPid()))
	c.waitCalls(first, 1, "on_role_change demoted")
	c.eventually(second.name+" to be the primary", 60*time.Second, func() bool { return second.health("/primary") == 200 })
	if !c.logContains(first, "removed leader key after trying and failing to start postgres") {
		t.Errorf("%s did not say why it gave up the key", first.name)
	}
}

// TestWardenJoinsPatroni4: a Warden node on auto joining a cluster whose leader is a real
// Patroni 4.1 speaks Patroni 4's words: its /patroni says version 4.1.5, and once a
// switchover made it the leader its member key and callback say primary, as the Patroni
// node's would.
func TestWardenJoinsPatroni4(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	c.nodes = c.nodes[:2]
	c.pgExtra = c.recordCallbacks
	c.writeConfigs(fast)
	patroni, warden := c.nodes[0], c.nodes[1]
	needPatroni4(t)
	c.startPatroni(patroni, patroni4)
	c.eventually("Patroni 4 to lead", 90*time.Second, func() bool { return patroni.health("/primary") == 200 })
	c.waitCalls(patroni, 0, "on_start primary")
	c.start(warden)
	c.waitReplica(warden, 90*time.Second)
	if v := warden.status()["patroni"].(map[string]any)["version"]; v != "4.1.5" {
		t.Errorf("Warden beside Patroni 4 reports version %v", v)
	}
	if !c.logContains(warden, "speaking Patroni 4's words") {
		t.Errorf("Warden did not say it follows Patroni 4")
	}
	c.switchover(patroni, warden)
	c.eventually("Warden to lead", 60*time.Second, func() bool { return warden.health("/primary") == 200 })
	c.waitCalls(warden, 1, "on_role_change primary")
	c.checkDialect(warden, "primary", "4.1.5")
}
