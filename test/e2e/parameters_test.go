//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func (c *testCluster) show(n *node, name string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := connect(ctx, n)
	if err != nil {
		return ""
	}
	defer conn.Close(context.Background())
	var v string
	if err := conn.QueryRow(ctx, "SHOW "+name).Scan(&v); err != nil {
		return ""
	}
	return v
}

// waitAll waits until cond holds on every node and returns how long that took.
func (c *testCluster) waitAll(what string, timeout time.Duration, cond func(n *node) bool) time.Duration {
	c.t.Helper()
	began := time.Now()
	c.eventually(what, timeout, func() bool {
		for _, n := range c.nodes {
			if !cond(n) {
				return false
			}
		}
		return true
	})
	return time.Since(began)
}

func pendingReason(n *node) map[string]any {
	r, _ := n.status()["pending_restart_reason"].(map[string]any)
	return r
}

// TestDynamicParameters: a parameter changed in the DCS configuration reaches PostgreSQL
// on every node within a loop; one that needs a restart shows as pending (in /patroni,
// the member keys and `list`) until `restart --pending`; local YAML values win; a value
// that could inject a setting and a misspelled name are left out of postgresql.conf
// while the rest of the change applies.
func TestDynamicParameters(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	p := c.up(t)

	c.mustCtl("edit-config", "-p", "work_mem=8MB", "--force")
	took := c.waitAll("work_mem 8MB everywhere", 15*time.Second, func(n *node) bool { return c.show(n, "work_mem") == "8MB" })
	t.Logf("measured: edit-config -p work_mem=8MB reached SHOW on all 3 nodes in %.2fs (loop_wait %ds)", took.Seconds(), fast.loopWait)
	if took > 5*time.Second {
		t.Errorf("a reload parameter took %s to apply", took)
	}
	for _, n := range c.nodes {
		if !c.logContains(n, "configuration files changed; reloading PostgreSQL") {
			t.Errorf("%s: no reload logged", n.name)
		}
		if st := n.status(); st["pending_restart"] == true {
			t.Errorf("%s: pending_restart after a reload-only change: %v", n.name, st)
		}
	}

	// shared_buffers is set in every node's YAML: the local value wins (Patroni's layering).
	if code, body := c.api(p, "PATCH", "/config", map[string]any{"postgresql": map[string]any{"parameters": map[string]any{
		"shared_buffers": "32MB", "max_files_per_process": 2000,
	}}}); code != 200 {
		t.Fatalf("PATCH /config: %d %s", code, body)
	}
	took = c.waitAll("max_files_per_process pending restart everywhere", 15*time.Second, func(n *node) bool {
		r, _ := pendingReason(n)["max_files_per_process"].(map[string]any)
		return n.status()["pending_restart"] == true && r["old_value"] == "1000" && r["new_value"] == "2000"
	})
	t.Logf("measured: a restart parameter showed pending_restart on all 3 nodes in %.2fs", took.Seconds())
	for _, n := range c.nodes {
		if r := pendingReason(n); len(r) != 1 {
			t.Errorf("%s: pending_restart_reason %v, want only max_files_per_process (local shared_buffers wins)", n.name, r)
		}
		if v := c.show(n, "shared_buffers"); v != "16MB" {
			t.Errorf("%s: shared_buffers %s, want the local 16MB", n.name, v)
		}
	}
	wantMatch(t, c.mustCtl("list"), `Pending restart`, `(?m)^\| pg-1 .*\| \*\s+\|$`)
	if _, err := exec.LookPath("patronictl"); err == nil {
		wantMatch(t, c.patronictl("list"), `Pending restart`, `(?m)^\| pg-2 .*\| \*\s+\|$`)
	}

	// Replicas first: the primary last, as a rolling restart does.
	for _, n := range append(c.others(p), p) {
		if code, body := c.api(n, "POST", "/restart", map[string]any{"restart_pending": true}); code != 200 {
			t.Fatalf("%s: restart --pending: %d %s", n.name, code, body)
		}
	}
	c.waitAll("pending restart cleared", 30*time.Second, func(n *node) bool {
		return n.status()["pending_restart"] == nil && c.show(n, "max_files_per_process") == "2000"
	})
	if out := c.mustCtl("list"); strings.Contains(out, "Pending restart") {
		t.Errorf("list still shows Pending restart:\n%s", out)
	}
	if code, body := c.api(p, "POST", "/restart", map[string]any{"restart_pending": true}); code != 503 {
		t.Errorf("restart --pending with nothing pending: %d %s", code, body)
	}

	// An injected line is refused by the API; a misspelled name is left out by every
	// agent with a warning naming it, and the rest applied.
	if code, body := c.api(p, "PATCH", "/config", map[string]any{"postgresql": map[string]any{"parameters": map[string]any{
		"log_line_prefix": "x'\nwork_mem = '64MB",
	}}}); code != 400 || !strings.Contains(body, "log_line_prefix contains a line break") {
		t.Fatalf("PATCH /config with an injected line: %d %s", code, body)
	}
	if code, body := c.api(p, "PATCH", "/config", map[string]any{"postgresql": map[string]any{"parameters": map[string]any{
		"work_mme": "16MB", "statement_timeout": "5min",
	}}}); code != 200 {
		t.Fatalf("PATCH /config: %d %s", code, body)
	}
	c.waitAll("statement_timeout 5min everywhere", 15*time.Second, func(n *node) bool { return c.show(n, "statement_timeout") == "5min" })
	for _, n := range c.nodes {
		conf, err := os.ReadFile(filepath.Join(n.dir, "data", "postgresql.conf"))
		must(t, err)
		if strings.Contains(string(conf), "work_mem = '64MB'") || strings.Contains(string(conf), "work_mme") || strings.Contains(string(conf), "log_line_prefix") {
			t.Errorf("%s: postgresql.conf:\n%s", n.name, conf)
		}
		if v := c.show(n, "work_mem"); v != "8MB" {
			t.Errorf("%s: work_mem %s after an injection attempt", n.name, v)
		}
		if !c.logContains(n, "work_mme (did you mean work_mem?)") {
			t.Errorf("%s: the misspelled name is not named in the log", n.name)
		}
	}
}
