//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// seedCallback turns the course's VIP callback (seed-configs/patroni-callback.sh) into one
// that can run here: `ip`/`arping` become log lines, the status log lives in the node's
// directory, and every call is also recorded as "$1 $2 $3".
func seedCallback(t *testing.T, c *testCluster, n *node) string {
	t.Helper()
	seed, err := os.ReadFile("../../../shared/seed-configs/patroni-callback.sh")
	if err != nil {
		t.Skipf("seed callback script: %v", err)
	}
	calls := filepath.Join(n.dir, "callbacks.log")
	status := filepath.Join(n.dir, "patroni_status.log")
	var out []string
	for _, line := range strings.Split(string(seed), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "sudo ip ") || strings.HasPrefix(trimmed, "sudo arping "):
			line = strings.Replace(line, trimmed, fmt.Sprintf("echo %q >> %s", "VIP: "+strings.TrimPrefix(trimmed, "sudo "), status), 1)
		case strings.HasPrefix(trimmed, "readonly scope=$3"):
			line += fmt.Sprintf("\necho \"$1 $2 $3\" >> %s", calls)
		}
		out = append(out, strings.ReplaceAll(line, "/tmp/patroni_status.log", status))
	}
	path := filepath.Join(n.dir, "patroni_callback.sh")
	must(t, os.WriteFile(path, []byte(strings.Join(out, "\n")), 0o755))
	must(t, os.Chown(path, int(c.owner.uid), int(c.owner.gid)))
	return path
}

func readLines(path string) []string {
	b, _ := os.ReadFile(path)
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// waitCalls waits until the node's recorded callbacks, from index from on, are want.
func (c *testCluster) waitCalls(n *node, from int, want ...string) {
	c.t.Helper()
	path := filepath.Join(n.dir, "callbacks.log")
	for i := range want {
		want[i] += " " + c.scope
	}
	c.eventually(fmt.Sprintf("%s callbacks %q", n.name, want), 30*time.Second, func() bool {
		got := readLines(path)
		return len(got) >= from+len(want) && strings.Join(got[from:from+len(want)], "|") == strings.Join(want, "|")
	})
	time.Sleep(500 * time.Millisecond) // nothing else may follow
	if got := readLines(path); len(got) != from+len(want) {
		c.t.Fatalf("%s: callbacks %q, want %q after index %d", n.name, got, want, from)
	}
}

// TestCallbacks: the seed VIP callback script, configured for every callback, records the
// start of each node, and a switchover as on_stop + on_role_change replica on the old
// primary and on_role_change master on the new one; restart and reload fire theirs.
func TestCallbacks(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	c.pgExtra = func(n *node) string {
		cb := seedCallback(t, c, n)
		var b strings.Builder
		b.WriteString("  callbacks:\n")
		for _, name := range []string{"on_start", "on_stop", "on_restart", "on_reload", "on_role_change"} {
			fmt.Fprintf(&b, "    %s: %s\n", name, cb)
		}
		return b.String()
	}
	c.writeConfigs(fast)
	old := c.up(t)
	target := c.others(old)[0]
	third := c.others(old)[1]
	c.waitCalls(old, 0, "on_start master")
	c.waitCalls(target, 0, "on_start replica")
	c.waitCalls(third, 0, "on_start replica")

	c.switchover(old, target)
	c.waitReplica(old, 60*time.Second)
	c.waitCalls(target, 1, "on_role_change master")
	c.waitCalls(old, 1, "on_stop master", "on_role_change replica")
	c.waitCalls(third, 1)

	status := func(n *node) string {
		b, _ := os.ReadFile(filepath.Join(n.dir, "patroni_status.log"))
		return string(b)
	}
	if s := status(target); !strings.Contains(s, "becoming master at") || !strings.Contains(s, "VIP: ip addr add 192.168.36.10/24") {
		t.Fatalf("%s status log:\n%s", target.name, s)
	}
	if s := status(old); !strings.Contains(s, "stop node at") || !strings.Contains(s, "becoming slave at") ||
		strings.Index(s, "stop node at") > strings.Index(s, "becoming slave at") {
		t.Fatalf("%s status log:\n%s", old.name, s)
	}

	if code, msg := c.api(third, "POST", "/restart", map[string]any{}); code != 200 {
		t.Fatalf("restart: %d %q", code, msg)
	}
	c.waitCalls(third, 1, "on_restart replica")
	if code, msg := c.api(target, "POST", "/reload", nil); code != 202 {
		t.Fatalf("reload: %d %q", code, msg)
	}
	c.waitCalls(target, 2, "on_reload master")
	if !c.logContains(target, `callback output`) || !c.logContains(target, "this is patroni callback on_role_change master "+c.scope) {
		t.Fatalf("%s: the callback's output is not in the agent's log", target.name)
	}
}
