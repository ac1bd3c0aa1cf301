package main

import (
	"context"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/warden-ha/warden/bench"
)

// runner runs every scenario for one tool against its own etcd.
type runner struct {
	ctx        context.Context
	tool       tool
	etcd       *etcdProc
	root       string
	res        *results
	repeat     int
	quick      bool
	idleWindow time.Duration
	seq        int
}

func (r *runner) logf(format string, args ...any) {
	log.Printf("[%s] "+format, append([]any{r.tool.Name}, args...)...)
}

func (r *runner) newCluster(set settings) (*cluster, error) {
	r.seq++
	return newCluster(r.tool, set, r.root, fmt.Sprintf("%s-%s-%d", r.tool.Name, set.Name, r.seq), r.etcd)
}

// bootstrap starts a cluster from empty data directories and times it until the leader has
// two streaming replicas. It returns the running cluster.
func (r *runner) bootstrap(set settings, key string) (*cluster, error) {
	c, err := r.newCluster(set)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := c.startAll(); err != nil {
		return c, err
	}
	p := c.waitHealthy(r.ctx, 120*time.Second)
	if p == nil {
		r.res.event(fmt.Sprintf("%s %s: bootstrap not healthy within 120s; last log lines:\n%s", r.tool.Name, key, c.nodes[0].tailLog(20)))
		return c, fmt.Errorf("bootstrap of %s did not become healthy within 120s", c.scope)
	}
	d := time.Since(t0).Seconds()
	r.res.add(key, "bootstrap: 3 empty nodes → leader + 2 streaming ("+set.Name+")", "s", r.tool.Name, set, d)
	r.logf("bootstrap %s: %.2fs (primary %s)", set.Name, d, p.name)
	if err := c.execSQL(r.ctx, p, "CREATE TABLE IF NOT EXISTS bench_probe (id bigserial PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())"); err != nil {
		return c, fmt.Errorf("create probe table: %w", err)
	}
	// Let the table reach the replicas before any fault.
	time.Sleep(500 * time.Millisecond)
	return c, nil
}

// repeatedBootstrap bootstraps repeat times, keeping the last cluster.
func (r *runner) repeatedBootstrap(set settings, key string, n int) (*cluster, error) {
	var c *cluster
	for i := 0; i < n; i++ {
		if c != nil {
			c.destroy()
		}
		var err error
		c, err = r.bootstrap(set, key)
		if err != nil {
			if c != nil {
				c.destroy()
			}
			return nil, err
		}
	}
	return c, nil
}

// phase waits a random part of loop_wait so faults land at a random point of the HA loop.
func (r *runner) phase(set settings) {
	time.Sleep(time.Second + time.Duration(rand.Float64()*float64(set.LoopWait)*float64(time.Second)))
}

// recover restarts a stopped node and waits for the cluster to be healthy again; it
// returns the rejoin time of n (seconds, -1 when it did not stream within the bound).
func (r *runner) recover(c *cluster, n *node) float64 {
	var rejoin float64 = -1
	if n != nil && !alive(n.agentPid()) {
		t := time.Now()
		if err := c.start(n); err != nil {
			r.logf("restart %s: %v", n.name, err)
		}
		rejoin = c.waitStreaming(r.ctx, n, t, 120*time.Second)
	}
	if c.waitHealthy(r.ctx, 120*time.Second) == nil {
		r.res.event(fmt.Sprintf("%s %s: cluster not healthy 120s after recovery", r.tool.Name, c.scope))
	}
	time.Sleep(time.Second)
	return rejoin
}

type faultSpec struct {
	key, title string
	set        settings
	direct     bool
	// inject applies the fault to the primary and returns marks; it may block (e.g. a freeze).
	inject func(c *cluster, p *node) []bench.Mark
	// bound is how long to wait for the first write after the fault.
	bound time.Duration
	// after runs once the first write came back (or the bound passed), before probes stop.
	after func(c *cluster, p *node, ps *probes, t0 time.Time) []bench.Mark
	// restart: the primary's agent must be started again afterwards.
	restart bool
	// rejoinKey records the old primary's rejoin time.
	rejoinKey string
	// gap: the figure is the longest write gap until the first write on another node (the
	// old primary keeps accepting writes for a while), not the first write after the fault.
	gap bool
}

// fault runs one repetition: healthy cluster, probes, fault at a random loop phase, first
// successful write through the multi-host DSN, trace recorded. It returns the samples.
func (r *runner) fault(c *cluster, f faultSpec, rep int) ([]bench.Sample, *node, float64, error) {
	p := c.waitHealthy(r.ctx, 120*time.Second)
	if p == nil {
		return nil, nil, 0, fmt.Errorf("%s: no healthy cluster before %s", c.scope, f.key)
	}
	ps, err := startProbes(r.ctx, c, f.direct)
	if err != nil {
		return nil, nil, 0, err
	}
	if !waitUntil(r.ctx, 10*time.Second, func() bool { return ps.multi().okSince(time.Now().Add(-time.Second), 0) }) {
		ps.halt()
		return nil, nil, 0, fmt.Errorf("%s: prober cannot write before %s", c.scope, f.key)
	}
	r.phase(f.set)
	t0 := time.Now()
	marks := f.inject(c, p)
	// A write already in flight when the fault began may still succeed: only attempts that
	// started after the injection returned count as "writes came back".
	done := time.Now()
	marks = append(marks, bench.Mark{T: done.Sub(t0).Seconds(), Label: "fault injected"})
	waitUntil(r.ctx, f.bound, func() bool { return ps.multi().okSince(done, 0) })
	if f.after != nil {
		marks = append(marks, f.after(c, p, ps, t0)...)
	}
	time.Sleep(time.Second)
	ps.halt()
	s := ps.samples(t0)
	first := bench.FirstOK(s, done.Sub(t0).Seconds(), bench.ByVia("multi"))
	if !math.IsNaN(first) {
		marks = append(marks, bench.Mark{T: first, Label: "first write"})
	}
	r.res.trace(traceRec{Scenario: f.key, Tool: r.tool.Name, Rep: rep, Settings: f.set, Marks: marks, Samples: s})
	if f.restart {
		rj := r.recover(c, p)
		if f.rejoinKey != "" {
			v := rj
			if v < 0 {
				v = math.NaN()
				r.res.note(f.rejoinKey, "", "s", r.tool.Name, fmt.Sprintf("rep %d: old primary did not stream within 120s", rep))
			}
			r.res.add(f.rejoinKey, "rejoin of the killed old primary ("+f.set.Name+")", "s", r.tool.Name, f.set, v)
		}
	} else {
		r.recover(c, nil)
	}
	return s, p, done.Sub(t0).Seconds(), nil
}

func (r *runner) firstWrite(c *cluster, f faultSpec) {
	for rep := 1; rep <= r.repeat && r.ctx.Err() == nil; rep++ {
		s, p, injected, err := r.fault(c, f, rep)
		if err != nil {
			r.logf("%s rep %d: %v", f.key, rep, err)
			r.res.note(f.key, f.title, "s", r.tool.Name, fmt.Sprintf("rep %d: %v", rep, err))
			continue
		}
		v := bench.FirstOK(s, injected, bench.ByVia("multi"))
		if f.gap {
			onNew := bench.FirstOK(s, 0, func(x bench.Sample) bool { return x.Via == "multi" && x.Port != p.pgPort })
			v, _ = bench.LongestGap(s, 0, onNew, bench.ByVia("multi"))
			if math.IsNaN(onNew) {
				v = math.NaN()
			}
			r.res.note(f.key, f.title, "s", r.tool.Name, fmt.Sprintf("rep %d: first write on the new primary %+.2fs, longest gap %.2fs", rep, onNew, v))
		}
		if math.IsNaN(v) {
			r.res.note(f.key, f.title, "s", r.tool.Name, fmt.Sprintf("rep %d: no write within %s", rep, f.bound))
		}
		r.res.add(f.key, f.title, "s", r.tool.Name, f.set, v)
		r.logf("%s rep %d: first write after %.2fs", f.key, rep, v)
	}
}

func killAgentAndPostmaster(c *cluster, p *node) []bench.Mark {
	c.kill9(p)
	return nil
}

func (r *runner) nodeDeath(c *cluster, set settings) {
	r.firstWrite(c, faultSpec{key: "node_death_" + set.Name, title: "node death: kill -9 agent + postmaster → first write (" + set.Name + ")",
		set: set, inject: killAgentAndPostmaster, bound: time.Duration(set.TTL+60) * time.Second, restart: true,
		rejoinKey: "rejoin_" + set.Name})
}

func (r *runner) gracefulStop(c *cluster, set settings) {
	r.firstWrite(c, faultSpec{key: "graceful_stop", title: "graceful stop: SIGTERM primary agent → longest write gap", set: set,
		inject: func(c *cluster, p *node) []bench.Mark {
			_ = syscall.Kill(p.agentPid(), syscall.SIGTERM)
			return nil
		},
		after: func(c *cluster, p *node, ps *probes, t0 time.Time) []bench.Mark {
			if !waitDead(p.agentPid(), 60*time.Second) {
				r.res.event(fmt.Sprintf("%s graceful stop: agent %s still alive 60s after SIGTERM", r.tool.Name, p.name))
				c.kill9(p)
			}
			// The old primary accepts writes until it shuts down: wait for the new one.
			waitUntil(r.ctx, time.Duration(set.TTL+60)*time.Second, func() bool { return ps.multi().okSince(t0, p.pgPort) })
			return nil
		},
		bound: time.Duration(set.TTL+60) * time.Second, restart: true, gap: true})
}

func (r *runner) postmasterCrash(c *cluster, set settings) {
	r.firstWrite(c, faultSpec{key: "postmaster_crash_" + set.Name, title: "postmaster kill -9 on primary → first write (" + set.Name + ")", set: set,
		inject: func(c *cluster, p *node) []bench.Mark {
			killPostmaster(p.postmasterPid())
			return nil
		},
		bound: time.Duration(set.TTL+60) * time.Second})
}

// switchover: POST /switchover on the leader; longest gap between successful writes.
func (r *runner) switchover(c *cluster, set settings) {
	key, title := "switchover", "planned switchover → longest write gap"
	for rep := 1; rep <= r.repeat && r.ctx.Err() == nil; rep++ {
		var code int
		var body string
		var elapsed float64
		s, _, _, err := r.fault(c, faultSpec{key: key, title: title, set: set, bound: 60 * time.Second,
			inject: func(c *cluster, p *node) []bench.Mark {
				cand := c.others(p)[0]
				t := time.Now()
				code, body, _ = p.post("/switchover", fmt.Sprintf(`{"leader": %q, "candidate": %q}`, p.name, cand.name), 60*time.Second)
				elapsed = time.Since(t).Seconds()
				return []bench.Mark{{T: elapsed, Label: "API returned"}}
			},
			after: func(c *cluster, p *node, ps *probes, t0 time.Time) []bench.Mark {
				// Let the old primary rejoin so the gap window covers everything.
				time.Sleep(2 * time.Second)
				return nil
			}}, rep)
		if err != nil {
			r.res.note(key, title, "s", r.tool.Name, fmt.Sprintf("rep %d: %v", rep, err))
			continue
		}
		if code != 200 {
			r.res.unsupported(key, title, "s", r.tool.Name, "not supported yet")
			r.res.note(key, title, "s", r.tool.Name, fmt.Sprintf("POST /switchover answered %d: %.200s", code, body))
			r.logf("switchover: HTTP %d %q: reported as not supported yet", code, body)
			return
		}
		gap, at := bench.LongestGap(s, -1, elapsed+3, bench.ByVia("multi"))
		r.res.add(key, title, "s", r.tool.Name, set, gap)
		r.res.add("switchover_api", "switchover: REST call duration", "s", r.tool.Name, set, elapsed)
		r.logf("switchover rep %d: longest gap %.2fs at %+.2fs, API %.2fs", rep, gap, at, elapsed)
	}
}

// frozenAgent: SIGSTOP of the primary's agent only; first write on another node and the
// split-brain window (writes the frozen node accepted after the new primary's first).
func (r *runner) frozenAgent(c *cluster, set settings) {
	key, title := "frozen_agent_"+set.Name, "frozen primary agent (SIGSTOP) → first write elsewhere ("+set.Name+")"
	skey, stitle := "split_brain_"+set.Name, "split-brain window: frozen node's writes after new primary's first ("+set.Name+")"
	for rep := 1; rep <= r.repeat && r.ctx.Err() == nil; rep++ {
		var frozen *node
		var contAt float64
		s, _, _, err := r.fault(c, faultSpec{key: key, title: title, set: set, direct: true, bound: 0,
			inject: func(c *cluster, p *node) []bench.Mark {
				frozen = p
				_ = syscall.Kill(p.agentPid(), syscall.SIGSTOP)
				return nil
			},
			after: func(c *cluster, p *node, ps *probes, t0 time.Time) []bench.Mark {
				others := c.others(p)
				waitUntil(r.ctx, time.Duration(set.TTL+60)*time.Second, func() bool {
					return ps.get(others[0].name).okSince(t0, 0) || ps.get(others[1].name).okSince(t0, 0)
				})
				// Keep the agent frozen a little longer, then resume it and watch it settle.
				time.Sleep(2 * time.Second)
				contAt = time.Since(t0).Seconds()
				_ = syscall.Kill(p.agentPid(), syscall.SIGCONT)
				waitUntil(r.ctx, time.Duration(set.TTL+30)*time.Second, func() bool { return p.health("/primary") != 200 })
				time.Sleep(time.Duration(set.LoopWait+2) * time.Second)
				return []bench.Mark{{T: contAt, Label: "SIGCONT"}}
			}}, rep)
		if err != nil {
			r.res.note(key, title, "s", r.tool.Name, fmt.Sprintf("rep %d: %v", rep, err))
			continue
		}
		elsewhere := func(x bench.Sample) bool { return x.Via != "multi" && x.Via != frozen.name && x.OK }
		first := bench.FirstOK(s, 0, elsewhere)
		last := bench.LastOK(s, func(x bench.Sample) bool { return x.Via == frozen.name && x.Start >= 0 })
		window := 0.0
		if !math.IsNaN(first) && !math.IsNaN(last) && last > first {
			window = last - first
		}
		r.res.add(key, title, "s", r.tool.Name, set, first)
		r.res.add(skey, stitle, "s", r.tool.Name, set, window)
		r.res.note(skey, stitle, "s", r.tool.Name, fmt.Sprintf("rep %d: new primary's first write %+.2fs, frozen node's last write %+.2fs, SIGCONT at %+.2fs", rep, first, last, contAt))
		r.logf("frozen agent rep %d: first write elsewhere %.2fs, frozen node's last write %.2fs (SIGCONT %.2fs), window %.2fs", rep, first, last, contAt, window)
	}
}

// etcdFreeze: SIGSTOP etcd for d; the longest write gap, and whether the primary changed or
// restarted.
func (r *runner) etcdFreeze(c *cluster, set settings, d time.Duration, key, title string, reps int) {
	for rep := 1; rep <= reps && r.ctx.Err() == nil; rep++ {
		var before *node
		var pmBefore int
		s, _, _, err := r.fault(c, faultSpec{key: key, title: title, set: set, bound: 0,
			inject: func(c *cluster, p *node) []bench.Mark {
				before, pmBefore = p, p.postmasterPid()
				_ = syscall.Kill(r.etcd.pid(), syscall.SIGSTOP)
				reg.mu.Lock()
				reg.stops = append(reg.stops, r.etcd.pid())
				reg.mu.Unlock()
				time.Sleep(d)
				_ = syscall.Kill(r.etcd.pid(), syscall.SIGCONT)
				return []bench.Mark{{T: d.Seconds(), Label: "etcd resumed"}}
			},
			after: func(c *cluster, p *node, ps *probes, t0 time.Time) []bench.Mark {
				waitUntil(r.ctx, time.Duration(set.TTL+60)*time.Second, func() bool { return ps.multi().okSince(time.Now().Add(-200*time.Millisecond), 0) })
				time.Sleep(time.Duration(2*set.LoopWait+2) * time.Second)
				return nil
			}}, rep)
		if err != nil {
			r.res.note(key, title, "s", r.tool.Name, fmt.Sprintf("rep %d: %v", rep, err))
			continue
		}
		gap, at := bench.LongestGap(s, 0, d.Seconds()+float64(2*set.LoopWait+2), bench.ByVia("multi"))
		after := c.primary()
		var fails int
		for _, x := range s {
			if !x.OK && x.Start >= 0 {
				fails++
			}
		}
		what := "primary kept"
		if after != nil && after != before {
			what = "failover to " + after.name
		} else if before.postmasterPid() != pmBefore {
			what = "primary restarted (demoted and promoted again)"
		} else if fails > 0 {
			what = "writes failed on the same postmaster (demoted to read-only or unreachable)"
		}
		r.res.add(key, title, "s", r.tool.Name, set, gap)
		r.res.note(key, title, "s", r.tool.Name, fmt.Sprintf("rep %d: freeze %.1fs, longest gap %.2fs from %+.2fs, %d failed writes, %s", rep, d.Seconds(), gap, at, fails, what))
		r.logf("%s rep %d: longest gap %.2fs at %+.2fs, %d failed writes, %s", key, rep, gap, at, fails, what)
	}
}

// idle measures RSS and CPU of each agent (with non-postgres helpers) and the etcd load over
// one idle window.
func (r *runner) idle(c *cluster, set settings) {
	if c.waitHealthy(r.ctx, 120*time.Second) == nil {
		r.logf("idle %s: cluster not healthy", set.Name)
		return
	}
	time.Sleep(time.Duration(set.LoopWait+1) * time.Second)
	procs := func(n *node) []int {
		pids := []int{n.agentPid()}
		for _, d := range descendants(n.agentPid()) {
			if st, ok := procStat(d); ok && st.comm != "postgres" {
				pids = append(pids, d)
			}
		}
		return pids
	}
	ticks := func(pids []int) uint64 {
		var t uint64
		for _, p := range pids {
			if st, ok := procStat(p); ok {
				t += st.utime + st.stim
			}
		}
		return t
	}
	type snap struct {
		pids  []int
		ticks uint64
	}
	before := map[string]snap{}
	for _, n := range c.nodes {
		ps := procs(n)
		before[n.name] = snap{ps, ticks(ps)}
	}
	rev0, _ := r.etcd.revision(r.ctx)
	m0, _ := r.etcd.metrics()
	t0 := time.Now()
	select {
	case <-r.ctx.Done():
		return
	case <-time.After(r.idleWindow):
	}
	el := time.Since(t0)
	rev1, _ := r.etcd.revision(r.ctx)
	m1, _ := r.etcd.metrics()
	perMin := 60 / el.Seconds()
	for _, n := range c.nodes {
		b := before[n.name]
		cpu := float64(ticks(b.pids)-b.ticks) / 100 * perMin
		var rss int
		for _, p := range procs(n) {
			rss += rssKiB(p)
		}
		r.res.add("idle_cpu_"+set.Name, "idle CPU per agent ("+set.Name+")", "s/min", r.tool.Name, set, cpu)
		r.res.add("idle_rss_"+set.Name, "idle RSS per agent ("+set.Name+")", "MiB", r.tool.Name, set, float64(rss)/1024)
		r.logf("idle %s %s: %d procs, RSS %.1f MiB, CPU %.3f s/min", set.Name, n.name, len(procs(n)), float64(rss)/1024, cpu)
	}
	// The probe of the revision itself is a read; every write bumps the revision by one.
	// Only the revisions that touched this cluster's keys count: the leases of clusters
	// destroyed just before expire during the window and are not this cluster's load.
	all := float64(rev1-rev0) * perMin
	own, err := r.etcd.revisionsUnder(r.ctx, "/service/"+c.scope+"/", rev0, rev1)
	if err != nil {
		r.logf("idle %s: counting the cluster's writes: %v", set.Name, err)
	}
	w := float64(own) * perMin
	r.res.add("etcd_writes_"+set.Name, "etcd writes per minute, idle 3-node cluster ("+set.Name+")", "/min", r.tool.Name, set, w)
	ka := (m1["grpc_lease_keepalive_msgs"] - m0["grpc_lease_keepalive_msgs"]) * perMin
	if ka == 0 {
		ka = (m1["etcd_debugging_lease_renewed_total"] - m0["etcd_debugging_lease_renewed_total"]) * perMin
	}
	r.res.add("etcd_keepalives_"+set.Name, "etcd lease keep-alives per minute, idle 3-node cluster ("+set.Name+")", "/min", r.tool.Name, set, ka)
	deltas := map[string]float64{}
	for k, v := range m1 {
		deltas[k] = (v - m0[k]) * perMin
	}
	r.res.note("etcd_writes_"+set.Name, "", "/min", r.tool.Name, fmt.Sprintf("window %.0fs; this cluster's writes %.1f/min, every revision %.1f/min; per-minute metric deltas %v", el.Seconds(), w, all, deltas))
	r.logf("idle %s: etcd writes %.1f/min (every revision, with other clusters' lease expiries: %.1f/min), keep-alives %.1f/min", set.Name, w, all, ka)
}

// rest runs wrk against /primary on the primary and /replica on a replica.
func (r *runner) rest(c *cluster, set settings, reps int, dur string) {
	p := c.waitHealthy(r.ctx, 120*time.Second)
	if p == nil {
		return
	}
	repl := c.others(p)[0]
	for rep := 1; rep <= reps && r.ctx.Err() == nil; rep++ {
		for _, t := range []struct {
			n    *node
			path string
		}{{p, "/primary"}, {repl, "/replica"}} {
			ctx, cancel := context.WithTimeout(r.ctx, 60*time.Second)
			out, err := exec.CommandContext(ctx, "wrk", "-t2", "-c16", "-d"+dur, "--latency", fmt.Sprintf("http://127.0.0.1:%d%s", t.n.apiPort, t.path)).CombinedOutput()
			cancel()
			name := t.path[1:]
			if err != nil {
				r.res.note("rest_"+name+"_rps", "", "req/s", r.tool.Name, fmt.Sprintf("wrk: %v: %.300s", err, out))
				continue
			}
			w, err := bench.ParseWrk(string(out))
			if err != nil {
				r.res.note("rest_"+name+"_rps", "", "req/s", r.tool.Name, fmt.Sprintf("%v: %.300s", err, out))
				continue
			}
			r.res.add("rest_"+name+"_rps", "REST wrk -t2 -c16 on /"+name+": requests/s", "req/s", r.tool.Name, set, w.RequestsPerSec)
			r.res.add("rest_"+name+"_p99", "REST wrk on /"+name+": p99 latency", "ms", r.tool.Name, set, w.P99)
			if w.Non2xx > 0 || w.SocketErrors != "" {
				r.res.note("rest_"+name+"_rps", "", "req/s", r.tool.Name, fmt.Sprintf("rep %d: non-2xx %d, socket errors %q", rep, w.Non2xx, w.SocketErrors))
			}
			r.logf("wrk %s rep %d: %.0f req/s, p50 %.2fms p99 %.2fms, non-2xx %d", t.path, rep, w.RequestsPerSec, w.P50, w.P99, w.Non2xx)
		}
	}
}

// all runs the whole sequence for one tool.
func (r *runner) all(defaults, tight settings, only map[string]bool) error {
	do := func(s string) bool { return len(only) == 0 || only[s] }
	c, err := r.repeatedBootstrap(defaults, "bootstrap_defaults", r.repeat)
	if err != nil {
		return err
	}
	if do("idle") {
		r.idle(c, defaults)
	}
	if do("rest") {
		reps, dur := min(r.repeat, 3), "10s"
		if r.quick {
			dur = "3s"
		}
		r.rest(c, defaults, reps, dur)
	}
	if do("stop") {
		r.gracefulStop(c, defaults)
	}
	if do("switchover") {
		r.switchover(c, defaults)
	}
	if do("crash") {
		r.postmasterCrash(c, defaults)
	}
	if do("death") {
		r.nodeDeath(c, defaults)
	}
	c.destroy()

	c, err = r.repeatedBootstrap(tight, "bootstrap_tight", 1)
	if err != nil {
		return err
	}
	defer c.destroy()
	if do("death") {
		r.nodeDeath(c, tight)
	}
	if do("crash") {
		r.postmasterCrash(c, tight)
	}
	if do("frozen") {
		r.frozenAgent(c, tight)
	}
	if do("etcd") {
		half := time.Duration(tight.RetryTimeout) * time.Second / 2
		r.etcdFreeze(c, tight, half, "etcd_freeze_half_retry", "etcd frozen for ½ retry_timeout → longest write gap (tight)", r.repeat)
		reps := min(r.repeat, 2)
		r.etcdFreeze(c, tight, time.Duration(2*tight.TTL)*time.Second, "etcd_freeze_2ttl", "etcd frozen for 2×ttl → longest write gap (tight)", reps)
	}
	if do("idle") {
		r.idle(c, tight)
	}
	return nil
}

func isRoot() bool { return os.Geteuid() == 0 }
