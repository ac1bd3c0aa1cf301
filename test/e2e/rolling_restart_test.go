//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// restartOrder returns the members in the order `ctl restart` reported restarting them.
func restartOrder(out string) []string {
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^Success: restart on member (\S+)$`).FindAllStringSubmatch(out, -1) {
		names = append(names, m[1])
	}
	return names
}

// wantSettled checks the end state of every step: one primary (want, when given), two
// streaming replicas, max_connections at value everywhere and nothing pending.
func (c *testCluster) wantSettled(t *testing.T, want *node, value string) *node {
	t.Helper()
	took := c.waitAll("max_connections "+value+" everywhere, nothing pending", 90*time.Second, func(n *node) bool {
		return c.show(n, "max_connections") == value && n.status()["pending_restart"] == nil
	})
	t.Logf("measured: max_connections %s on all nodes, nothing pending, %.1fs after the restart command returned", value, took.Seconds())
	p := c.waitPrimary(30 * time.Second)
	if want != nil && p != want {
		t.Errorf("primary is %s, want %s", p.name, want.name)
	}
	for _, n := range c.others(p) {
		c.waitReplica(n, 60*time.Second)
	}
	return p
}

func (c *testCluster) setMaxConnections(t *testing.T, value string) {
	t.Helper()
	c.mustCtl("edit-config", c.scope, "-p", "max_connections="+value, "--force")
	c.waitAll("max_connections "+value+" pending everywhere", 30*time.Second, func(n *node) bool {
		r, _ := pendingReason(n)["max_connections"].(map[string]any)
		return r["new_value"] == value
	})
}

// TestRollingRestart: `ctl restart CLUSTER` restarts the replicas first and the primary
// last, each back before the next, under a write probe; raising max_connections that way
// leaves every node on the new value, and lowering it too (the replicas, started with the
// primary's higher value from pg_control, are restarted again after the primary). A
// primary restarted alone with a raised value stops the replicas' replay; the agents
// restart them with the new value without anyone asking. `--switchover` moves the primary
// instead of restarting it in place.
func TestRollingRestart(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	p := c.up(t)
	pr := c.startProber(1)
	round := 1
	var acks []int
	defer func() {
		if pr != nil {
			pr.finish()
		}
	}()
	probe := func(what string) {
		got, gap := pr.finish()
		acks = append(acks, got...)
		t.Logf("measured: %s: %d writes acknowledged, longest write gap %.3fs", what, len(got), gap.Seconds())
		if len(got) == 0 {
			t.Errorf("%s: no write acknowledged", what)
		}
		pr = c.startProber(round*1_000_000 + 1)
		round++
	}

	// Raise: replicas first, so each can replay the primary's raise.
	c.setMaxConnections(t, "150")
	began := time.Now()
	out := c.mustCtl("restart", c.scope, "--pending", "--force")
	t.Logf("measured: rolling restart raising max_connections took %.1fs", time.Since(began).Seconds())
	order := restartOrder(out)
	if len(order) != 3 || order[2] != p.name {
		t.Fatalf("restart order %v, want the replicas then %s:\n%s", order, p.name, out)
	}
	c.wantSettled(t, p, "150")
	probe("rolling restart raising max_connections")

	// Lower: the replicas start with the primary's 150 from pg_control until the primary
	// runs with 120; the rolling restart restarts them once more after it.
	c.setMaxConnections(t, "120")
	out = c.mustCtl("restart", c.scope, "--pending", "--force")
	if order := restartOrder(out); len(order) != 5 || order[2] != p.name {
		t.Errorf("restart order %v, want two replicas, %s, the two replicas again:\n%s", order, p.name, out)
	}
	if !strings.Contains(out, "still has a pending restart after the primary's") {
		t.Errorf("no second pass reported:\n%s", out)
	}
	for _, n := range c.others(p) {
		if !c.logContains(n, "starting the standby with max_connections=150, the primary's value in pg_controldata") {
			t.Errorf("%s: the raised start is not logged", n.name)
		}
	}
	c.wantSettled(t, p, "120")
	probe("rolling restart lowering max_connections")

	// The unsafe order: only the primary restarts with a raised value. The replicas'
	// replay stops at its parameter change; their agents restart them.
	c.setMaxConnections(t, "180")
	out = c.mustCtl("restart", c.scope, p.name, "--pending", "--force")
	if order := restartOrder(out); len(order) != 1 || order[0] != p.name {
		t.Fatalf("restart of the primary alone: %v\n%s", order, out)
	}
	c.wantSettled(t, p, "180")
	for _, n := range c.others(p) {
		if !c.logContains(n, "restarting: replay is paused because hot standby is not possible with insufficient parameter settings (max_connections = 120 is lower than on the primary (180))") {
			t.Errorf("%s: no restart for the primary's raised max_connections logged", n.name)
		}
	}
	probe("primary restarted alone with a raised max_connections")

	// --switchover: the replicas restart, then the primary key moves instead of the
	// primary restarting in place.
	began = time.Now()
	out = c.mustCtl("restart", c.scope, "--force", "--switchover")
	t.Logf("measured: rolling restart with --switchover took %.1fs", time.Since(began).Seconds())
	if order := restartOrder(out); len(order) != 2 || contains(order, p.name) {
		t.Errorf("restarted %v, want the two replicas only:\n%s", order, out)
	}
	if !strings.Contains(out, "Success: member "+p.name+" restarted as a replica by the switchover") {
		t.Errorf("no switchover reported:\n%s", out)
	}
	newP := c.wantSettled(t, nil, "180")
	if newP == p {
		t.Errorf("the primary is still %s after --switchover", p.name)
	}
	probe("rolling restart with --switchover")
	pr.finish()
	pr = nil

	var missing int
	for _, id := range acks {
		v, err := c.queryInt(newP, fmt.Sprintf("SELECT count(*) FROM e2e_rows WHERE id = %d", id))
		if err != nil || v != 1 {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged writes are missing", missing, len(acks))
	}
}

// TestPgIdentFromDynamicConfig: a pg_ident line added with edit-config reaches
// pg_ident.conf and pg_ident_file_mappings on every node, which reloads.
func TestPgIdentFromDynamicConfig(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	c.up(t)
	c.mustCtl("edit-config", c.scope, "-s", `postgresql.pg_ident=["wardenmap alice postgres"]`, "--force")
	took := c.waitAll("the mapping in pg_ident_file_mappings everywhere", 15*time.Second, func(n *node) bool {
		v, err := c.queryInt(n, "SELECT count(*) FROM pg_ident_file_mappings WHERE map_name = 'wardenmap' AND sys_name = 'alice' AND pg_username = 'postgres' AND error IS NULL")
		return err == nil && v == 1
	})
	t.Logf("measured: edit-config pg_ident reached all 3 nodes in %.2fs", took.Seconds())
	for _, n := range c.nodes {
		b, err := os.ReadFile(filepath.Join(n.dir, "data", "pg_ident.conf"))
		must(t, err)
		if want := "# Do not edit this file manually!\n# It will be overwritten by Patroni!\nwardenmap alice postgres\n"; string(b) != want {
			t.Errorf("%s: pg_ident.conf = %q, want %q", n.name, b, want)
		}
		if !c.logContains(n, "configuration files changed; reloading PostgreSQL") {
			t.Errorf("%s: no reload logged", n.name)
		}
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
