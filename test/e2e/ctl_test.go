//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ctl runs `warden ctl -c <pg-1's agent config> args...`: the agents' own YAML, with its
// postgresql and restapi sections, is a valid patronictl configuration.
func (c *testCluster) ctl(args ...string) (string, error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, wardenBin, append([]string{"ctl", "-c", c.nodes[0].config}, args...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + c.dir, "PGPASSWORD=" + superPassword}
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), superPassword) {
		c.t.Errorf("warden ctl %v printed the superuser password", args)
	}
	return string(out), err
}

func (c *testCluster) mustCtl(args ...string) string {
	c.t.Helper()
	out, err := c.ctl(args...)
	if err != nil {
		c.t.Fatalf("warden ctl %v: %v\n%s", args, err, out)
	}
	return out
}

func wantMatch(t *testing.T, out string, res ...string) {
	t.Helper()
	for _, re := range res {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output does not match %s:\n%s", re, out)
		}
	}
}

// TestCtl drives one real cluster through every warden ctl verb, comparing with
// Debian's patronictl where the output is stable.
func TestCtl(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	p := c.up(t)
	replicas := c.others(p)
	_, hasPatronictl := exec.LookPath("patronictl")

	t.Run("list", func(t *testing.T) {
		c.t = t
		// A replica's member key trails the leader's optime by up to a loop (16 MB right
		// after the clone's segment switch): wait for lag 0 before checking the rows.
		var out string
		c.eventually("list with both replicas at lag 0", 20*time.Second, func() bool {
			out = c.mustCtl("list")
			for _, r := range replicas {
				if !regexp.MustCompile(`\| ` + r.name + ` +\| .*\| +0 \|`).MatchString(out) {
					return false
				}
			}
			return true
		})
		wantMatch(t, out, `^\+ Cluster: `+c.scope+` \(\d{10,}\) -`,
			`\| `+p.name+` +\| 127\.0\.0\.1:`+strconv.Itoa(p.pgPort)+` +\| Leader +\| running +\| +1 \| +\|`)
		for _, r := range replicas {
			wantMatch(t, out, `\| `+r.name+` +\| 127\.0\.0\.1:`+strconv.Itoa(r.pgPort)+` +\| Replica +\| running +\| +1 \| +0 \|`)
		}
		if hasPatronictl == nil {
			// Same rows and column widths; only the title differs (3.0.2 omits the sysid).
			// Lag moves between the two reads, so retry until both see the same state.
			var ours, theirs string
			c.eventually("warden ctl list == patronictl list", 20*time.Second, func() bool {
				ours, theirs = c.mustCtl("list"), c.patronictl("list")
				return strings.SplitN(ours, "\n", 2)[1] == strings.SplitN(theirs, "\n", 2)[1]
			})
		}
		wantMatch(t, c.mustCtl("list", "-f", "json"), `"Member": "`+p.name+`", "Host": "127.0.0.1:\d+", "Role": "Leader", "State": "running", "TL": 1\}`)
		wantMatch(t, c.mustCtl("topology"), `\| \+ `+replicas[0].name+` `)
	})

	t.Run("version-dsn-query", func(t *testing.T) {
		c.t = t
		wantMatch(t, c.mustCtl("version", c.scope), `^patronictl version 3\.0\.2\n\n`, `pg-1: Patroni 3\.0\.2 PostgreSQL 15\.\d+\n`)
		if got := c.mustCtl("dsn"); got != "host=127.0.0.1 port="+strconv.Itoa(p.pgPort)+"\n" {
			t.Errorf("dsn: %q", got)
		}
		if got := c.mustCtl("dsn", "-m", replicas[1].name); got != "host=127.0.0.1 port="+strconv.Itoa(replicas[1].pgPort)+"\n" {
			t.Errorf("dsn -m: %q", got)
		}
		if got := c.mustCtl("query", "-U", "postgres", "-c", "SELECT 1 AS x, 'a' AS y"); got != "x\ty\n1\ta\n" {
			t.Errorf("query: %q", got)
		}
		if got := c.mustCtl("query", "-U", "postgres", "-m", replicas[0].name, "-c", "SELECT pg_is_in_recovery()"); got != "pg_is_in_recovery\nTrue\n" {
			t.Errorf("query on a replica: %q", got)
		}
		wantMatch(t, c.mustCtl("query", "-U", "postgres", "-c", "SELECT * FROM nosuchtable"), `^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\tERROR, SQLSTATE: 42P01\n$`)
	})

	t.Run("edit-config", func(t *testing.T) {
		c.t = t
		out := c.mustCtl("edit-config", "-s", "maximum_lag_on_failover=2097152", "-p", "work_mem=8MB", "--force")
		wantMatch(t, out, `(?m)^-maximum_lag_on_failover: 1048576$`, `(?m)^\+maximum_lag_on_failover: 2097152$`, `(?m)^\+    work_mem: 8MB$`, `Configuration changed\n$`)
		shown := c.mustCtl("show-config")
		wantMatch(t, shown, `(?m)^maximum_lag_on_failover: 2097152$`, `(?m)^    work_mem: 8MB$`)
		if hasPatronictl == nil {
			if theirs := c.patronictl("show-config"); theirs != shown {
				t.Errorf("show-config differs from patronictl:\n%s\n%s", shown, theirs)
			}
		}
		if got := c.mustCtl("edit-config", "-s", "maximum_lag_on_failover=2097152", "--force"); got != "Not changed\n" {
			t.Errorf("second edit: %q", got)
		}
		// Whether the agents apply the new work_mem is the agent's business (not checked here).
	})

	t.Run("reload", func(t *testing.T) {
		c.t = t
		out := c.mustCtl("reload", c.scope, "--force")
		for _, n := range c.nodes {
			wantMatch(t, out, `(Reload request received for member `+n.name+` and will be processed within 1 seconds|No changes to apply on member `+n.name+`)\n`)
		}
	})

	t.Run("pause-resume", func(t *testing.T) {
		c.t = t
		wantMatch(t, c.mustCtl("pause", "--wait"), `'pause' request sent, waiting until it is recognized by all nodes\nSuccess: cluster management is paused\n$`)
		wantMatch(t, c.mustCtl("list"), `\n Maintenance mode: on\n$`)
		if out, err := c.ctl("pause"); err == nil || !strings.Contains(out, "Cluster is already paused") {
			t.Errorf("second pause: %v %s", err, out)
		}
		wantMatch(t, c.mustCtl("resume", "--wait"), `Success: cluster management is resumed\n$`)
		if strings.Contains(c.mustCtl("list"), "Maintenance mode") {
			t.Error("still paused after resume")
		}
	})

	t.Run("restart", func(t *testing.T) {
		c.t = t
		r := replicas[0]
		before := r.postmasterPid()
		wantMatch(t, c.mustCtl("restart", c.scope, r.name, "--force"), `Success: restart on member `+r.name+`\n$`)
		if after := r.postmasterPid(); after == before {
			t.Errorf("postmaster pid unchanged after restart (%d)", after)
		}
		c.waitReplica(r, 60*time.Second)
	})

	var newPrimary *node
	t.Run("switchover", func(t *testing.T) {
		c.t = t
		target := replicas[0]
		out := c.mustCtl("switchover", "--candidate", target.name, "--force")
		wantMatch(t, out, `^Current cluster topology\n`, `\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{5} Successfully switched over to "`+target.name+`"\n`)
		c.eventually(target.name+" primary", 30*time.Second, func() bool { return c.primary() == target })
		c.waitReplica(p, 90*time.Second)
		newPrimary = target
		hist := c.mustCtl("history")
		wantMatch(t, hist, `\|  1 \| +\d+ \| no recovery target specified \| \S+ \| `+target.name+` +\|`)
		if hasPatronictl == nil {
			if theirs := c.patronictl("history"); theirs != hist {
				t.Errorf("history differs from patronictl:\n%s\n%s", hist, theirs)
			}
		}
	})

	t.Run("failover", func(t *testing.T) {
		c.t = t
		if newPrimary == nil {
			t.Skip("switchover failed")
		}
		target := p
		out := c.mustCtl("failover", "--candidate", target.name, "--force")
		wantMatch(t, out, `Successfully failed over to "`+target.name+`"\n`)
		c.eventually(target.name+" primary", 30*time.Second, func() bool { return c.primary() == target })
		c.waitReplica(newPrimary, 90*time.Second)
	})

	t.Run("reinit", func(t *testing.T) {
		c.t = t
		r := c.others(c.primary())[0]
		out := c.mustCtl("reinit", c.scope, r.name, "--force", "--wait")
		wantMatch(t, out, `Success: reinitialize for member `+r.name+`\n`, `Reinitialize is completed on: `+r.name+`\n$`)
		c.waitReplica(r, 90*time.Second)
	})

	t.Run("errors", func(t *testing.T) {
		c.t = t
		out, err := c.ctl("switchover", "--candidate", "nosuch", "--force")
		if err == nil || !strings.Contains(out, "Member nosuch does not exist in cluster "+c.scope) {
			t.Errorf("switchover to an unknown member: %v\n%s", err, out)
		}
		if _, err := os.Stat(c.nodes[0].config); err != nil {
			t.Fatal(err)
		}
		out, err = c.ctl("-c", "/nonexistent.yml", "list")
		if err == nil || !strings.Contains(out, "Provided config file /nonexistent.yml not existing") {
			t.Errorf("missing config: %v\n%s", err, out)
		}
	})
}
