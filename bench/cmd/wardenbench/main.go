// Command wardenbench is `make bench`: it measures Warden and Patroni side by side on this
// machine — same etcd build, same PostgreSQL, same YAML — and prints the ratios and whether
// Warden's targets are met. It writes bench/results/<stamp>.json (machine, versions,
// settings, every raw sample) and a PNG timeline of writes around each fault.
//
// Environment: BENCH_REPEAT (default 5), BENCH_ONLY=warden|patroni, BENCH_QUICK=1 (each
// scenario once, short idle and wrk windows), BENCH_IDLE_SECONDS (default 60),
// BENCH_SCENARIOS (comma list of idle,rest,stop,switchover,crash,death,frozen,etcd,capacity),
// WARDEN_BIN (default bin/warden), BENCH_OUT (default bench/results), WARDEN_PG_BIN (the
// PostgreSQL bin directory; default the host's 15, `make bench PG=17` sets it).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/warden-ha/warden/bench"
)

func main() {
	os.Exit(run())
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func run() int {
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	if !isRoot() {
		fmt.Fprintln(os.Stderr, "wardenbench: run as root (e.g. sudo make bench): agents and PostgreSQL are started as the postgres user, which needs root")
		return 2
	}
	quick := os.Getenv("BENCH_QUICK") == "1"
	repeat, _ := strconv.Atoi(env("BENCH_REPEAT", "5"))
	if quick {
		repeat = 1
	}
	if repeat < 1 {
		repeat = 1
	}
	idleSecs, _ := strconv.Atoi(env("BENCH_IDLE_SECONDS", map[bool]string{true: "10", false: "60"}[quick]))
	only := os.Getenv("BENCH_ONLY")
	scen := map[string]bool{}
	for _, s := range strings.Split(os.Getenv("BENCH_SCENARIOS"), ",") {
		if s = strings.TrimSpace(s); s != "" {
			scen[s] = true
		}
	}
	wardenBin, _ := filepath.Abs(env("WARDEN_BIN", "bin/warden"))
	outDir := env("BENCH_OUT", "bench/results")

	if err := prerequisites(only, wardenBin); err != nil {
		fmt.Fprintln(os.Stderr, "wardenbench:", err)
		return 2
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		log.Printf("%s: stopping every process started, by PID", s)
		cancel()
		reg.cleanup(false)
		os.Exit(130)
	}()

	root, err := os.MkdirTemp("", "wardenbench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	reg.tempDir(root)
	if err := mkdirOwned(root, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	keep := false
	defer func() { reg.cleanup(keep) }()

	res := newResults()
	res.Started = time.Now().UTC().Format(time.RFC3339)
	describe(res, wardenBin)
	defaults := settings{Name: "defaults", TTL: 30, LoopWait: 10, RetryTimeout: 10}
	tights := map[string]settings{
		"warden":  {Name: "tight", TTL: 5, LoopWait: 1, RetryTimeout: 2},
		"patroni": {Name: "tight", TTL: 20, LoopWait: 1, RetryTimeout: 3},
	}
	res.Config = map[string]any{"repeat": repeat, "quick": quick, "idle_seconds": idleSecs, "only": only,
		"defaults": defaults, "tight": tights, "probe": "INSERT every 20 ms; " + "host=127.0.0.1,127.0.0.1,127.0.0.1 port=a,b,c target_session_attrs=read-write connect_timeout=1",
		"note": "tools run one after the other, each against its own fresh Debian etcd 3.4 process; 2 shared vCPUs"}

	tools := []tool{{Name: "warden", Command: []string{wardenBin}}, {Name: "patroni", Command: []string{"/usr/bin/patroni"}}}
	for _, t := range tools {
		if only != "" && only != t.Name || ctx.Err() != nil {
			continue
		}
		e, err := startEtcd(ctx, root)
		if err != nil {
			log.Printf("%s: %v", t.Name, err)
			keep = true
			continue
		}
		r := &runner{ctx: ctx, tool: t, etcd: e, root: root, res: res, repeat: repeat, quick: quick, idleWindow: time.Duration(idleSecs) * time.Second}
		log.Printf("== %s: %d repetition(s), etcd %s", t.Name, repeat, e.endpoint)
		if err := r.all(defaults, tights[t.Name], scen); err != nil {
			log.Printf("%s: %v", t.Name, err)
			res.event(fmt.Sprintf("%s: run aborted: %v", t.Name, err))
		}
		e.stop()
	}
	if (only == "" || only == "warden") && (len(scen) == 0 || scen["capacity"]) && ctx.Err() == nil {
		if e, err := startEtcd(ctx, root); err == nil {
			step, budget := 12*time.Second, 150*time.Second
			if quick {
				step, budget = 4*time.Second, 40*time.Second
			}
			n, steps := capacity(ctx, e, tights["warden"], step, budget, func(f string, a ...any) { log.Printf("[warden] "+f, a...) })
			res.add("capacity", "idle 3-node clusters one etcd holds (simulated agents, loop 1 s)", "clusters", "warden", tights["warden"], float64(n))
			b, _ := json.Marshal(steps)
			res.note("capacity", "", "clusters", "warden", "steps: "+string(b))
			res.unsupported("capacity", "", "clusters", "patroni", "not measured")
			e.stop()
		}
	}
	res.Finished = time.Now().UTC().Format(time.RFC3339)
	if ctx.Err() != nil {
		return 130
	}
	return report(res, outDir, tights)
}

// prerequisites installs Patroni and wrk from Debian when missing (saying so) and checks the
// rest.
func prerequisites(only, wardenBin string) error {
	if _, err := os.Stat(wardenBin); err != nil {
		return fmt.Errorf("%s missing: run make build", wardenBin)
	}
	need := map[string]string{"wrk": "wrk"}
	if only != "warden" {
		need["patroni"] = "patroni"
	}
	for bin, pkg := range need {
		if _, err := exec.LookPath(bin); err == nil {
			continue
		}
		log.Printf("%s is missing: installing Debian's %s package (apt-get install -y %s)", bin, pkg, pkg)
		cmd := exec.Command("apt-get", "install", "-y", pkg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("apt-get install %s: %w", pkg, err)
		}
	}
	for _, p := range []string{"/usr/bin/etcd", pgBin + "/postgres"} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s missing", p)
		}
	}
	return nil
}

func output(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("error: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func describe(res *results, wardenBin string) {
	res.Machine["uname"] = output("uname", "-a")
	res.Machine["nproc"] = output("nproc")
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		res.Machine["memory"] = strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
	}
	res.Versions["warden"] = output("git", "describe", "--always", "--dirty", "--tags")
	res.Versions["warden_binary"] = wardenBin
	res.Versions["patroni"] = output("/usr/bin/patroni", "--version")
	res.Versions["postgres"] = output(pgBin+"/postgres", "--version")
	res.Versions["etcd"] = strings.SplitN(output("/usr/bin/etcd", "--version"), "\n", 2)[0]
	res.Versions["wrk"] = strings.SplitN(output("wrk", "--version"), "\n", 2)[0]
	res.Versions["go"] = output("go", "version")
}

// targets by scenario key.
func targets() map[string]bench.Target {
	return map[string]bench.Target{
		"bootstrap_defaults":        bench.AtMost(3, "≤ 3 s"),
		"bootstrap_tight":           bench.AtMost(3, "≤ 3 s"),
		"node_death_defaults":       bench.RatioAtMost(1, "≤ Patroni's (equal ttl)"),
		"node_death_tight":          bench.Both("≤ 5 s and ≤ ¼ Patroni's", bench.AtMost(5, ""), bench.RatioAtMost(0.25, "")),
		"rejoin_defaults":           bench.AtMost(3, "≤ 3 s"),
		"rejoin_tight":              bench.AtMost(3, "≤ 3 s"),
		"graceful_stop":             bench.AtMost(0.5, "≤ 0.5 s"),
		"switchover":                bench.AtMost(0.5, "≤ 0.5 s"),
		"postmaster_crash_defaults": bench.AtMost(1, "≤ 1 s"),
		"postmaster_crash_tight":    bench.AtMost(1, "≤ 1 s"),
		"idle_rss_defaults":         bench.AtMost(20, "≤ 20 MiB"),
		"idle_rss_tight":            bench.AtMost(20, "≤ 20 MiB"),
		"idle_cpu_defaults":         bench.RatioAtMost(0.5, "≤ ½ Patroni's"),
		"idle_cpu_tight":            bench.RatioAtMost(0.5, "≤ ½ Patroni's"),
		"rest_primary_rps":          bench.RatioAtLeast(20, "≥ 20× Patroni's"),
		"rest_replica_rps":          bench.RatioAtLeast(20, "≥ 20× Patroni's"),
		"rest_primary_p99":          bench.AtMost(1, "< 1 ms"),
		"rest_replica_p99":          bench.AtMost(1, "< 1 ms"),
		"etcd_freeze_half_retry":    bench.AtMost(1, "no demotion: gap ≤ freeze (1 s)"),
		"etcd_writes_defaults":      bench.RatioAtMost(0.5, "≤ ½ Patroni's"),
		"etcd_writes_tight":         bench.RatioAtMost(0.5, "≤ ½ Patroni's"),
	}
}

func rows(res *results) []bench.Row {
	tg := targets()
	var out []bench.Row
	for _, k := range res.Order {
		s := res.Scenarios[k]
		title := s.Title
		if title == "" {
			title = k
		}
		row := bench.Row{Scenario: title, Unit: s.Unit, Warden: bench.Summarize(s.Samples["warden"]), Patroni: bench.Summarize(s.Samples["patroni"]),
			WNote: s.Unsupported["warden"], PNote: s.Unsupported["patroni"], Target: tg[k]}
		if row.Target.Text == "" {
			row.Target.Text = "(reported)"
		}
		out = append(out, row)
	}
	return out
}

func report(res *results, outDir string, tights map[string]settings) int {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		log.Print(err)
		return 1
	}
	stamp := time.Now().UTC().Format("20060102-150405")
	rs := rows(res)
	var tbl bytes.Buffer
	_ = bench.Render(&tbl, rs)
	fmt.Println()
	fmt.Print(tbl.String())
	fmt.Printf("\nsettings: defaults ttl 30 / loop_wait 10 / retry_timeout 10 (both); tight: Warden %d/%d/%d, Patroni %d/%d/%d\n",
		tights["warden"].TTL, tights["warden"].LoopWait, tights["warden"].RetryTimeout, tights["patroni"].TTL, tights["patroni"].LoopWait, tights["patroni"].RetryTimeout)
	for _, k := range res.Order {
		s := res.Scenarios[k]
		for _, t := range []string{"warden", "patroni"} {
			for _, n := range s.Notes[t] {
				fmt.Printf("note %s %s: %s\n", k, t, n)
			}
		}
	}
	for _, e := range res.Events {
		fmt.Printf("event: %s\n", e)
	}
	var md bytes.Buffer
	_ = bench.Markdown(&md, rs)
	jsonPath := filepath.Join(outDir, "bench-"+stamp+".json")
	b, err := json.MarshalIndent(struct {
		*results
		Table    string `json:"table"`
		Markdown string `json:"markdown"`
	}{res, tbl.String(), md.String()}, "", " ")
	if err == nil {
		err = os.WriteFile(jsonPath, b, 0o644)
	}
	if err != nil {
		log.Print(err)
		return 1
	}
	pngPath := filepath.Join(outDir, "bench-"+stamp+".png")
	if err := chart(res, pngPath); err != nil {
		log.Print(err)
		return 1
	}
	_ = os.WriteFile(filepath.Join(outDir, "bench-"+stamp+".md"), md.Bytes(), 0o644)
	fmt.Printf("\nresults: %s\nchart:   %s\n", jsonPath, pngPath)
	return 0
}

// chart draws the first repetition of every fault for both tools.
func chart(res *results, path string) error {
	var traces []bench.Trace
	seen := map[string]bool{}
	for _, k := range res.Order {
		for _, t := range []string{"warden", "patroni"} {
			for _, tr := range res.Traces {
				id := tr.Scenario + "/" + tr.Tool
				if tr.Scenario == k && tr.Tool == t && !seen[id] {
					seen[id] = true
					title := res.Scenarios[k].Title
					traces = append(traces, bench.Trace{Title: title, Tool: fmt.Sprintf("%s %d/%d/%d", t, tr.Settings.TTL, tr.Settings.LoopWait, tr.Settings.RetryTimeout), Samples: tr.Samples, Marks: tr.Marks})
				}
			}
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return bench.Chart(f, "WARDEN VS PATRONI: WRITES AROUND EACH FAULT (FIRST REPETITION)", traces, 3)
}
