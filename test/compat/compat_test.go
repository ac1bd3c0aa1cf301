//go:build compat

package compat

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// patroni4Dir is where scripts/install-patroni4.sh keeps Patroni 4.1.x (make compat names it
// in COMPAT_PATRONI4).
func patroni4Dir() string {
	if d := os.Getenv("COMPAT_PATRONI4"); d != "" {
		return d
	}
	return "/var/cache/warden/patroni4/bin"
}

// step is one scripted action run on every cluster in lockstep, then observed.
type step struct {
	name  string
	quick bool // part of the fast subset (make test)
	// act changes the cluster and records the answers of mutating requests.
	act func(t *testing.T, c *cluster, s Snapshot)
	// ready waits (bounded) until the cluster reached the step's state.
	ready func(t *testing.T, c *cluster, s Snapshot)
}

const stepTimeout = 90 * time.Second

var scenario = []step{
	{name: "leader", quick: true,
		act: func(t *testing.T, c *cluster, s Snapshot) { c.start(c.node("pg-1")) },
		ready: func(t *testing.T, c *cluster, s Snapshot) {
			c.await(s, "pg-1 primary", stepTimeout, func() bool { return c.node("pg-1").code("/primary") == 200 })
		}},
	{name: "replica", quick: true,
		act: func(t *testing.T, c *cluster, s Snapshot) { c.start(c.node("pg-2")) },
		ready: func(t *testing.T, c *cluster, s Snapshot) {
			c.await(s, "pg-2 streaming", stepTimeout, func() bool {
				return c.streaming("pg-1", "pg-2") && c.node("pg-2").code("/replica") == 200
			})
		}},
	{name: "sync",
		act: func(t *testing.T, c *cluster, s Snapshot) {
			c.answer(s, c.node("pg-1"), "PATCH", "/config", `{"synchronous_mode": true}`, "")
		},
		ready: func(t *testing.T, c *cluster, s Snapshot) {
			c.await(s, "pg-2 sync standby", stepTimeout, func() bool { return c.node("pg-2").code("/sync") == 200 })
		}},
	{name: "pending-restart-patch",
		act: func(t *testing.T, c *cluster, s Snapshot) {
			c.answer(s, c.node("pg-1"), "PATCH", "/config", `{"postgresql": {"parameters": {"max_connections": 110}}}`, "")
		},
		ready: func(t *testing.T, c *cluster, s Snapshot) { c.timePending(s, "PATCH /config", c.nodes...) }},
	{name: "restarted",
		act: func(t *testing.T, c *cluster, s Snapshot) {
			c.answer(s, c.node("pg-2"), "POST", "/restart", `{}`, "")
			c.answer(s, c.node("pg-1"), "POST", "/restart", `{}`, "")
		},
		ready: func(t *testing.T, c *cluster, s Snapshot) {
			c.await(s, "no pending restart, pg-2 streaming", stepTimeout, func() bool {
				return !pendingRestart(c.node("pg-1")) && !pendingRestart(c.node("pg-2")) && c.streaming("pg-1", "pg-2")
			})
		}},
	{name: "pending-restart-reload",
		act: func(t *testing.T, c *cluster, s Snapshot) {
			n := c.node("pg-2")
			c.writeConfig(n, "24MB")
			c.answer(s, n, "POST", "/reload", "", "")
		},
		ready: func(t *testing.T, c *cluster, s Snapshot) { c.timePending(s, "local YAML reload", c.node("pg-2")) }},
	{name: "pending-restart-edit-config",
		act: func(t *testing.T, c *cluster, s Snapshot) {
			out, code := c.ctl(ctlTool{"3.0.2", []string{"/usr/bin/patronictl"}}, "edit-config", "--force", "-p", "max_worker_processes=9")
			s.Add("request", "patronictl edit-config -p max_worker_processes=9 (exit code)", float64(code))
			if code != 0 {
				t.Logf("%s edit-config: %s", c.flavor.name, out)
			}
		},
		ready: func(t *testing.T, c *cluster, s Snapshot) { c.timePending(s, "patronictl edit-config", c.node("pg-1")) }},
	{name: "paused", quick: true,
		act: func(t *testing.T, c *cluster, s Snapshot) {
			c.answer(s, c.node("pg-1"), "PATCH", "/config", `{"pause": true}`, "")
		},
		ready: func(t *testing.T, c *cluster, s Snapshot) {
			c.await(s, "paused on every node", stepTimeout, func() bool {
				for _, n := range c.nodes {
					if p, _ := n.status()["pause"].(bool); !p {
						return false
					}
				}
				return true
			})
		}},
	{name: "paused-switchover",
		act: func(t *testing.T, c *cluster, s Snapshot) {
			l := c.leaderName()
			r := c.other(l)
			c.answer(s, c.node(l), "POST", "/switchover", fmt.Sprintf(`{"leader": %q}`, l), " (no candidate)")
			c.answer(s, c.node(l), "POST", "/switchover", fmt.Sprintf(`{"leader": %q, "candidate": %q, "scheduled_at": "2030-01-01T00:00:00+00:00"}`, l, r.name), " (scheduled)")
			c.answer(s, c.node(l), "POST", "/switchover", fmt.Sprintf(`{"leader": %q, "candidate": %q}`, l, r.name), "")
		},
		ready: func(t *testing.T, c *cluster, s Snapshot) {
			c.await(s, "pg-2 primary after the paused switchover", stepTimeout, func() bool {
				return c.node("pg-2").code("/primary") == 200 && c.leaderName() == "pg-2"
			})
			c.await(s, "pg-1 streaming from pg-2 after the paused switchover", stepTimeout, func() bool {
				return c.streaming("pg-2", "pg-1")
			})
		}},
	{name: "paused-pg-stopped", quick: true,
		act: func(t *testing.T, c *cluster, s Snapshot) {
			s.Add("request", "pg_ctl stop -m fast on the replica", c.stopPostgres(c.other(c.leaderName())))
		},
		ready: func(t *testing.T, c *cluster, s Snapshot) {
			// Patroni 3.0.2 sometimes starts it again (a cycle overlapping the stop falls
			// back to the cached role and re-applies primary_conninfo with a restart): the
			// stop is repeated, and the state compared is the one after a stop that held.
			n := c.other(c.leaderName())
			keyState := func() bool { st, _ := c.dcsValue("members/" + n.name)["state"].(string); return st == "stopped" }
			for range 3 {
				if _, ok := within(time.Now(), 20*time.Second, keyState); ok {
					break
				}
				if pm := postmasterPid(n.dataDir()); pm > 0 && isPostgres(pm) {
					t.Logf("%s: %s was started again while paused; stopping it once more", c.flavor.name, n.name)
					c.stopPostgres(n)
				}
			}
			c.await(s, n.name+" reports stopped", stepTimeout, func() bool { return stateOf(n) == "stopped" })
		}},
	{name: "resumed",
		act: func(t *testing.T, c *cluster, s Snapshot) {
			c.answer(s, c.node(c.leaderName()), "PATCH", "/config", `{"pause": false}`, "")
		},
		ready: func(t *testing.T, c *cluster, s Snapshot) {
			l := c.leaderName()
			c.await(s, "replica streaming again after resume", stepTimeout, func() bool {
				return c.streaming(l, c.other(l).name)
			})
		}},
	{name: "switchover",
		act: func(t *testing.T, c *cluster, s Snapshot) {
			l := c.leaderName()
			c.answer(s, c.node(l), "POST", "/switchover", fmt.Sprintf(`{"leader": %q, "candidate": %q}`, l, c.other(l).name), "")
		},
		ready: func(t *testing.T, c *cluster, s Snapshot) {
			c.await(s, "pg-1 primary again, pg-2 streaming", stepTimeout, func() bool {
				return c.leaderName() == "pg-1" && c.node("pg-1").code("/primary") == 200 && c.streaming("pg-1", "pg-2")
			})
		}},
}

// timePending measures how long until every node in ns reports pending_restart. The
// observation compared is whether it showed at all (within five loops and 10 s); the
// time, which on a loaded machine includes starting patronictl, is logged for the figures.
func (c *cluster) timePending(s Snapshot, path string, ns ...*node) {
	d, ok := within(c.acted, 5*time.Duration(loopWait)*time.Second+10*time.Second, func() bool {
		for _, n := range ns {
			if !pendingRestart(n) {
				return false
			}
		}
		return true
	})
	verdict := "shown"
	if !ok {
		verdict = "not shown"
	}
	c.t.Logf("%s: pending_restart after %s shown in %s (loop_wait %ds)", c.flavor.name, path, d.Round(10*time.Millisecond), loopWait)
	s.Add("timing", "pending_restart after "+path, verdict)
}

// TestCompat runs the scenario on Patroni and Warden clusters in lockstep and compares.
// COMPAT_QUICK=1: Patroni 3.0.2 only, the quick steps, patronictl 3.0.2 only.
func TestCompat(t *testing.T) {
	quick := os.Getenv("COMPAT_QUICK") != ""
	root, err := os.MkdirTemp("", "warden-compat-")
	must(t, err)
	must(t, os.Chmod(root, 0o755))
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("COMPAT_KEEP") != "" {
			t.Logf("directory kept: %s", root)
			return
		}
		_ = os.RemoveAll(root)
	})
	warden := buildWarden(t, root)
	ctls := []ctlTool{{"3.0.2", []string{"/usr/bin/patronictl"}}}
	patronis := []flavor{{name: "patroni-3.0.2", version: "3.0.2", agent: []string{"/usr/bin/patroni"}}}
	p4 := patroni4Dir()
	if _, err := os.Stat(filepath.Join(p4, "patroni")); err == nil && !quick {
		ctls = append(ctls, ctlTool{"4.1", []string{filepath.Join(p4, "patronictl")}})
		patronis = append(patronis, flavor{name: "patroni-4.1", version: "4.1", agent: []string{filepath.Join(p4, "patroni")}})
	} else if !quick && os.Getenv("COMPAT_PATRONI4") != "" {
		t.Fatalf("no Patroni 4.1 in %s (COMPAT_PATRONI4)", p4)
	} else if !quick {
		t.Logf("no Patroni 4.1 in %s (scripts/install-patroni4.sh): comparing with 3.0.2 only", p4)
	}
	allow := loadAllowlist(t)
	etcd := startEtcd(t, root)
	var clusters []*cluster
	for i, f := range patronis {
		clusters = append(clusters, newCluster(t, f, root, etcd, fmt.Sprintf("p%d", i+3)))
	}
	w := newCluster(t, flavor{name: "warden", agent: []string{warden}}, root, etcd, "wd")
	clusters = append(clusters, w)
	t.Cleanup(func() {
		if t.Failed() {
			for _, c := range clusters {
				for _, n := range c.nodes {
					t.Logf("---- %s %s: last log lines ----\n%s", c.flavor.name, n.name, c.tailLog(n, 30))
				}
			}
		}
	})

	rep := newReport(patronis)
	defer rep.finish(t, root)
	for _, st := range scenario {
		if quick && !st.quick {
			continue
		}
		snaps := runStep(t, st, clusters, ctls)
		for i, f := range patronis {
			rep.add(f.version, st.name, Compare(st.name, snaps[i], snaps[len(snaps)-1]), allow)
		}
		if t.Failed() {
			break
		}
	}
}

// runStep acts on every cluster, waits for each to reach the state, lets them settle and
// snapshots them (in parallel: the clusters run side by side).
func runStep(t *testing.T, st step, clusters []*cluster, ctls []ctlTool) []Snapshot {
	t.Logf("step %s", st.name)
	snaps := make([]Snapshot, len(clusters))
	for i, c := range clusters {
		snaps[i] = Snapshot{}
		c.acted = time.Now()
		st.act(t, c, snaps[i])
	}
	for i, c := range clusters {
		st.ready(t, c, snaps[i])
	}
	var wg sync.WaitGroup
	for i, c := range clusters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !c.settle(30 * time.Second) {
				t.Logf("%s did not settle within 30s after %s", c.flavor.name, st.name)
			}
			for k, v := range c.snapshot(ctls) {
				snaps[i][k] = v
			}
		}()
	}
	wg.Wait()
	return snaps
}

// buildWarden builds the warden binary of this tree, or takes COMPAT_WARDEN (another build,
// e.g. an older commit, to count what a change fixed).
func buildWarden(t *testing.T, root string) string {
	t.Helper()
	if bin := os.Getenv("COMPAT_WARDEN"); bin != "" {
		return bin
	}
	bin := filepath.Join(root, "warden")
	out, err := exec.Command("go", "build", "-o", bin, "../../cmd/warden").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func loadAllowlist(t *testing.T) []*Allowed {
	t.Helper()
	f, err := os.Open("allowlist.txt")
	must(t, err)
	defer f.Close()
	a, err := ParseAllowlist(f)
	must(t, err)
	return a
}

// report collects the differences per Patroni version and step.
type report struct {
	versions []string
	steps    map[string][]string
	diffs    map[string][]Difference // by version: not in the allowlist
	allowedD map[string][]allowedDiff
	allowed  map[string]map[*Allowed]int
	byStep   map[string]map[string][2]int // version -> step -> {unexplained, allowed}
}

type allowedDiff struct {
	d Difference
	a *Allowed
}

func newReport(fs []flavor) *report {
	r := &report{diffs: map[string][]Difference{}, allowedD: map[string][]allowedDiff{}, allowed: map[string]map[*Allowed]int{}, byStep: map[string]map[string][2]int{}, steps: map[string][]string{}}
	for _, f := range fs {
		r.versions = append(r.versions, f.version)
		r.allowed[f.version] = map[*Allowed]int{}
		r.byStep[f.version] = map[string][2]int{}
	}
	return r
}

func (r *report) add(version, step string, ds []Difference, allow []*Allowed) {
	r.steps[version] = append(r.steps[version], step)
	counts := r.byStep[version][step]
	for _, d := range ds {
		if a := Match(allow, version, d); a != nil {
			r.allowed[version][a]++
			r.allowedD[version] = append(r.allowedD[version], allowedDiff{d, a})
			counts[1]++
			continue
		}
		r.diffs[version] = append(r.diffs[version], d)
		counts[0]++
	}
	r.byStep[version][step] = counts
}

// finish writes one report file per version and fails on unexplained differences.
func (r *report) finish(t *testing.T, root string) {
	dir := os.Getenv("COMPAT_REPORT_DIR")
	if dir == "" {
		dir = root
	}
	must(t, os.MkdirAll(dir, 0o755))
	for _, v := range r.versions {
		var b strings.Builder
		fmt.Fprintf(&b, "# Warden vs Patroni %s\n\n| step | unexplained | allowlisted |\n|---|---|---|\n", v)
		for _, s := range r.steps[v] {
			c := r.byStep[v][s]
			fmt.Fprintf(&b, "| %s | %d | %d |\n", s, c[0], c[1])
		}
		fmt.Fprintf(&b, "\n## Unexplained differences (%d)\n\n", len(r.diffs[v]))
		for _, d := range r.diffs[v] {
			fmt.Fprintf(&b, "- `%s`\n  patroni: %s\n  warden:  %s\n", d.Key(), d.Patroni, d.Warden)
		}
		fmt.Fprintf(&b, "\n## Allowlisted (entries used)\n\n")
		var used []*Allowed
		for a := range r.allowed[v] {
			used = append(used, a)
		}
		sort.Slice(used, func(i, j int) bool { return used[i].Line < used[j].Line })
		for _, a := range used {
			fmt.Fprintf(&b, "- line %d (%d matches): %s — %s\n", a.Line, r.allowed[v][a], a.Doc, a.Reason)
		}
		fmt.Fprintf(&b, "\n## Allowlisted differences (%d)\n\n", len(r.allowedD[v]))
		for _, ad := range r.allowedD[v] {
			fmt.Fprintf(&b, "- `%s` (line %d)\n  patroni: %s\n  warden:  %s\n", ad.d.Key(), ad.a.Line, ad.d.Patroni, ad.d.Warden)
		}
		path := filepath.Join(dir, "compat-report-"+v+".md")
		must(t, os.WriteFile(path, []byte(b.String()), 0o644))
		t.Logf("Patroni %s: %d unexplained differences, %d allowlisted entries used; report %s", v, len(r.diffs[v]), len(used), path)
		for _, s := range r.steps[v] {
			c := r.byStep[v][s]
			t.Logf("  %-28s unexplained %3d  allowlisted %3d", s, c[0], c[1])
		}
		if n := len(r.diffs[v]); n > 0 {
			lim := min(n, 40)
			var ls []string
			for _, d := range r.diffs[v][:lim] {
				ls = append(ls, fmt.Sprintf("%s\n    patroni: %s\n    warden:  %s", d.Key(), d.Patroni, d.Warden))
			}
			t.Errorf("Patroni %s: %d differences not in allowlist.txt (first %d):\n%s", v, n, lim, strings.Join(ls, "\n"))
		}
	}
}
