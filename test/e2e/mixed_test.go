//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// A Patroni release the mixed-cluster tests run beside Warden: its agent and patronictl
// launchers and the timings its cluster runs with (Patroni 4 raises ttl to at least 20 s,
// so its cluster is given that).
type patroniRelease struct {
	name, agent, ctl string
	tm               timings
}

var (
	release3 = patroniRelease{"3.0.2", "/usr/bin/patroni", "/usr/bin/patronictl", timings{ttl: 10, loopWait: 1, retryTimeout: 3, primaryStartTimeout: 300}}
	release4 = patroniRelease{"4.1", patroni4, patronictl4, timings{ttl: 20, loopWait: 2, retryTimeout: 5, primaryStartTimeout: 300}}
)

func (r patroniRelease) available(t *testing.T) {
	t.Helper()
	if r == release4 {
		needPatroni4(t)
	}
	for _, f := range []string{r.agent, r.ctl} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("Patroni %s is not installed (%s)", r.name, f)
		}
	}
}

// mixedCluster is a testCluster whose nodes run Patroni or Warden on the same YAML.
type mixedCluster struct {
	*testCluster
	rel patroniRelease
	// patroni holds the nodes whose agent is Patroni.
	patroni map[*node]bool
}

func newMixed(t *testing.T, rel patroniRelease) *mixedCluster {
	t.Helper()
	rel.available(t)
	return &mixedCluster{testCluster: newCluster(t, startEmbeddedEtcd(t), rel.tm), rel: rel, patroni: map[*node]bool{}}
}

func (m *mixedCluster) agentName(n *node) string {
	if m.patroni[n] {
		return "Patroni " + m.rel.name
	}
	return "Warden"
}

func (m *mixedCluster) startPatroniAgent(n *node) {
	m.patroni[n] = true
	m.startPatroni(n, m.rel.agent)
}

func (m *mixedCluster) startWarden(n *node) {
	m.patroni[n] = false
	m.start(n)
}

// killAgent SIGKILLs the agent only: its PostgreSQL keeps running, as after a crash of
// the agent or a `systemctl kill` of its unit.
func (m *mixedCluster) killAgent(n *node) {
	m.t.Helper()
	pid := n.agentPid()
	if !alive(pid) {
		return
	}
	must(m.t, syscall.Kill(pid, syscall.SIGKILL))
	m.eventually(n.name+"'s agent to exit", 10*time.Second, func() bool { return !alive(pid) })
	n.mu.Lock()
	if n.log != nil {
		n.log.Close()
		n.log = nil
	}
	n.mu.Unlock()
}

// stopPatroni stops a Patroni agent as its service would: SIGTERM (Patroni stops its
// PostgreSQL), then SIGKILL if the agent is still there 20 s after its PostgreSQL is
// down, as systemd does after TimeoutStopSec. Patroni 3.0.2 now and then stays after
// its PostgreSQL stopped; with PostgreSQL down, killing it then changes nothing.
func (m *mixedCluster) stopPatroni(n *node) {
	m.t.Helper()
	pm, pid := n.postmasterPid(), n.agentPid()
	if !alive(pid) {
		return
	}
	must(m.t, syscall.Kill(pid, syscall.SIGTERM))
	m.eventually(n.name+"'s PostgreSQL to stop after SIGTERM to Patroni", 60*time.Second, func() bool { return !alive(pm) })
	deadline := time.Now().Add(20 * time.Second)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if alive(pid) {
		m.t.Logf("%s: Patroni still running 20s after its PostgreSQL stopped: killed", n.name)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	m.waitGone(n, pm)
}

// ctlRun runs a patronictl (Patroni's, at bin, or warden ctl for bin "") against the
// cluster and returns its output and error.
func (m *mixedCluster) ctlRun(bin string, args ...string) (string, error) {
	m.t.Helper()
	if bin == "" {
		return m.ctl(args...)
	}
	cfg := filepath.Join(m.dir, "patronictl.yml")
	hosts := make([]string, len(m.endpoints))
	for i, e := range m.endpoints {
		hosts[i] = strings.TrimPrefix(e, "http://")
	}
	must(m.t, os.WriteFile(cfg, []byte(fmt.Sprintf("scope: %s\netcd3:\n  hosts: %s\n", m.scope, strings.Join(hosts, ","))), 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-c", cfg}, args...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + m.dir, "LANG=C.UTF-8"}
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (m *mixedCluster) mustCtlRun(bin string, args ...string) string {
	m.t.Helper()
	out, err := m.ctlRun(bin, args...)
	if err != nil {
		m.t.Fatalf("%s %v: %v\n%s", ctlName(bin), args, err, out)
	}
	return out
}

func ctlName(bin string) string {
	if bin == "" {
		return "warden ctl"
	}
	return bin
}

// streaming reports whether primary p's pg_stat_replication shows n streaming (Patroni
// 3.0.2's /patroni has no replication_state, so the primary's view decides).
func (m *mixedCluster) streaming(p, n *node) bool {
	v, err := m.queryInt(p, fmt.Sprintf("SELECT count(*) FROM pg_stat_replication WHERE application_name = '%s' AND state = 'streaming'", n.name))
	return err == nil && v == 1
}

// waitFollows waits until n answers /replica and streams from primary p.
func (m *mixedCluster) waitFollows(p, n *node, timeout time.Duration) {
	m.t.Helper()
	m.eventually(fmt.Sprintf("%s (%s) to stream from %s (%s)", n.name, m.agentName(n), p.name, m.agentName(p)), timeout, func() bool {
		return n.health("/replica") == 200 && m.streaming(p, n)
	})
}

// timeline is the timeline n reports in /patroni (Patroni and Warden alike).
func timeline(n *node) int {
	st := n.status()
	if st == nil {
		return 0
	}
	tl, _ := st["timeline"].(float64)
	return int(tl)
}

// checkRows waits until every node holds every acknowledged id and reports the same
// timeline as the primary p.
func (m *mixedCluster) checkRows(p *node, ids []int) {
	m.t.Helper()
	want := timeline(p)
	for _, n := range m.nodes {
		m.eventually(fmt.Sprintf("%s to hold all %d acknowledged rows on timeline %d", n.name, len(ids), want), 60*time.Second, func() bool {
			return rowsOn(n, ids) == len(ids) && timeline(n) == want
		})
	}
}

// rowsOn counts the ids present on n, primary or replica; -1 when n cannot be read.
func rowsOn(n *node, ids []int) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := connect(ctx, n)
	if err != nil {
		return -1
	}
	defer conn.Close(context.Background())
	var found int
	if conn.QueryRow(ctx, "SELECT count(*) FROM e2e_rows WHERE id = ANY($1)", ids).Scan(&found) != nil {
		return -1
	}
	return found
}

// checkList: both patronictl releases (and warden ctl) list every member, one Leader and
// the others streaming replicas, from the keys Patroni and Warden wrote.
func (m *mixedCluster) checkList(leader *node) {
	m.t.Helper()
	for _, bin := range []string{release3.ctl, release4.ctl, ""} {
		if bin != "" {
			if _, err := os.Stat(bin); err != nil {
				continue
			}
		}
		var out string
		m.eventually(ctlName(bin)+" list to show the cluster", 30*time.Second, func() bool {
			o, err := m.ctlRun(bin, "list", m.scope)
			out = o
			if err != nil {
				return false
			}
			for _, n := range m.nodes {
				line := memberLine(o, n.name)
				if n == leader && !strings.Contains(line, "Leader") || n != leader && !strings.Contains(line, "Replica") ||
					!strings.Contains(line, "running") && !strings.Contains(line, "streaming") {
					return false
				}
			}
			return true
		})
		m.t.Logf("%s list:\n%s", ctlName(bin), out)
	}
}

func memberLine(list, name string) string {
	for _, l := range strings.Split(list, "\n") {
		if strings.Contains(l, "| "+name+" ") {
			return l
		}
	}
	return ""
}

// switchoverVia moves the leader from p to target with patronictl (bin) or warden ctl
// (bin ""), under the write prober, and returns the longest write gap. Every
// acknowledged write must reach every node.
func (m *mixedCluster) switchoverVia(bin string, p, target *node, firstID int) time.Duration {
	m.t.Helper()
	pr := m.startProber(firstID)
	m.eventually("the prober's first write", 30*time.Second, func() bool { pr.mu.Lock(); defer pr.mu.Unlock(); return len(pr.acks) > 5 })
	began := time.Now()
	var out string
	var err error
	// Right after a clone or a rejoin the candidate may lag beyond maximum_lag_on_failover
	// and the leader refuses; an operator retries, so does this.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(time.Second) {
		out, err = m.ctlRun(bin, "switchover", m.scope, "--leader", p.name, "--candidate", target.name, "--force")
		if err == nil && strings.Contains(out, `Successfully switched over to "`+target.name+`"`) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || !strings.Contains(out, `Successfully switched over to "`+target.name+`"`) {
		pr.finish()
		m.t.Fatalf("%s switchover %s (%s) -> %s (%s): %v\n%s", ctlName(bin), p.name, m.agentName(p), target.name, m.agentName(target), err, out)
	}
	m.eventually(target.name+" to be the only primary", 60*time.Second, func() bool { return m.primary() == target })
	took := time.Since(began)
	m.eventually("writes on "+target.name, 30*time.Second, func() bool {
		pr.mu.Lock()
		defer pr.mu.Unlock()
		return len(pr.okAt) > 0 && pr.okAt[len(pr.okAt)-1].After(began.Add(took))
	})
	acks, gap := pr.finish()
	for _, n := range m.others(target) {
		m.waitFollows(target, n, 90*time.Second)
	}
	m.checkRows(target, acks)
	m.t.Logf("measured: %s switchover %s (%s) -> %s (%s): longest write gap %.3fs, %d writes acknowledged, none lost; new primary after %.2fs",
		ctlName(bin), p.name, m.agentName(p), target.name, m.agentName(target), gap.Seconds(), len(acks), took.Seconds())
	return gap
}

// failoverKill kills p's agent and PostgreSQL (kill -9) and waits for target to be the
// primary with the others following it; it returns the time to the first write.
func (m *mixedCluster) failoverKill(p, target *node, id int) time.Duration {
	m.t.Helper()
	killed := time.Now()
	m.kill9(p)
	var w *node
	var took time.Duration
	for deadline := time.Now().Add(3 * time.Duration(m.rel.tm.ttl) * time.Second); w == nil && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if n, ok := m.writeOnce(id); ok {
			w, took = n, time.Since(killed)
		}
	}
	if w != target {
		m.t.Fatalf("after kill -9 of %s (%s) the writable node is %v, want %s (%s)", p.name, m.agentName(p), w, target.name, m.agentName(target))
	}
	m.t.Logf("measured: kill -9 of %s (%s) -> first write on %s (%s) after %.2fs (ttl %d)", p.name, m.agentName(p), target.name, m.agentName(target), took.Seconds(), m.rel.tm.ttl)
	return took
}

// testMixedCluster: Patroni and Warden members in one cluster. (a) A Warden replica clones
// from and streams from a Patroni leader, beside a Patroni replica. (b) Switchovers in
// both directions, each through patronictl and through warden ctl, with Patroni replicas
// following a Warden leader. (c) kill -9 failover from a Patroni leader to a Warden
// replica and back. Every acknowledged write reaches every node; patronictl of both
// releases lists the mixed cluster after each step.
func testMixedCluster(t *testing.T, rel patroniRelease) {
	m := newMixed(t, rel)
	pa, w, pb := m.nodes[0], m.nodes[1], m.nodes[2]

	began := time.Now()
	m.startPatroniAgent(pa)
	m.eventually(pa.name+" (Patroni) to bootstrap the primary", 120*time.Second, func() bool { return pa.health("/primary") == 200 })
	must(t, m.exec(pa, "CREATE TABLE e2e_rows (id int PRIMARY KEY)"))
	must(t, m.exec(pa, "INSERT INTO e2e_rows SELECT generate_series(1, 100)"))
	m.startWarden(w)
	m.startPatroniAgent(pb)
	m.waitFollows(pa, w, 120*time.Second)
	m.waitFollows(pa, pb, 120*time.Second)
	t.Logf("measured: Patroni %s leader bootstrapped, Warden and Patroni replicas streaming after %.1fs", rel.name, time.Since(began).Seconds())
	ids := make([]int, 100)
	for i := range ids {
		ids[i] = i + 1
	}
	m.checkRows(pa, ids)
	m.checkList(pa)
	m.checkMemberKeys(pa)

	m.switchoverVia(rel.ctl, pa, w, 1000)
	m.checkList(w)
	m.checkMemberKeys(w)
	if rel == release4 {
		m.checkMemberSlots(w)
	}
	m.switchoverVia("", w, pb, 2000)
	m.switchoverVia("", pb, w, 3000)
	m.switchoverVia(rel.ctl, w, pa, 4000)
	m.checkList(pa)

	// kill -9 failover, each direction with one candidate: the third node is stopped.
	m.stopPatroni(pb)
	m.waitFollows(pa, w, 30*time.Second)
	m.failoverKill(pa, w, 10001)
	m.startPatroniAgent(pa)
	m.waitFollows(w, pa, 120*time.Second)
	m.failoverKill(w, pa, 10002)
	m.startWarden(w)
	m.waitFollows(pa, w, 120*time.Second)
	m.startPatroniAgent(pb)
	m.waitFollows(pa, pb, 120*time.Second)
	m.checkRows(pa, append(ids, 10001, 10002))
	m.checkList(pa)
}

func TestMixedClusterPatroni3(t *testing.T) { testMixedCluster(t, release3) }
func TestMixedClusterPatroni4(t *testing.T) { testMixedCluster(t, release4) }

// conversionStep is one step of a rolling conversion and the time it took.
type conversionStep struct {
	name     string
	from, to time.Time
}

// longestGap is the longest time between two acknowledged writes, and when it began.
func longestGap(accepts []accept) (time.Duration, time.Time) {
	sort.Slice(accepts, func(i, j int) bool { return accepts[i].at.Before(accepts[j].at) })
	var gap time.Duration
	var at time.Time
	for i := 1; i < len(accepts); i++ {
		if d := accepts[i].at.Sub(accepts[i-1].at); d > gap {
			gap, at = d, accepts[i-1].at
		}
	}
	return gap, at
}

// gapWithin is the longest write gap that began inside the step.
func gapWithin(accepts []accept, s conversionStep) time.Duration {
	var gap time.Duration
	for i := 1; i < len(accepts); i++ {
		if !accepts[i-1].at.Before(s.from) && accepts[i-1].at.Before(s.to) {
			gap = max(gap, accepts[i].at.Sub(accepts[i-1].at))
		}
	}
	return gap
}

// convertReplica replaces the Patroni agent of replica n, which follows leader p, by
// Warden on the same YAML and data directory: stopped (SIGTERM: Patroni stops
// PostgreSQL) or, with keepRunning, Patroni killed and its PostgreSQL left running. A
// marker file in the data directory proves Warden did not re-clone.
func (m *mixedCluster) convertReplica(p, n *node, keepRunning bool) conversionStep {
	m.t.Helper()
	how := "stopped"
	if keepRunning {
		how = "running"
	}
	s := conversionStep{name: fmt.Sprintf("convert replica %s (PostgreSQL %s)", n.name, how), from: time.Now()}
	pm := n.postmasterPid()
	if keepRunning {
		m.killAgent(n)
		if !alive(pm) {
			m.t.Fatalf("%s: PostgreSQL did not survive its Patroni agent's kill -9", n.name)
		}
	} else {
		m.stopPatroni(n)
	}
	marker := filepath.Join(n.dir, "data", "converted-from-patroni")
	must(m.t, os.WriteFile(marker, []byte(n.name), 0o600))
	m.startWarden(n)
	m.waitFollows(p, n, 120*time.Second)
	s.to = time.Now()
	if _, err := os.Stat(marker); err != nil {
		m.t.Fatalf("%s was re-cloned by Warden (the marker in its data directory is gone: %v)", n.name, err)
	}
	kept := "restarted"
	if keepRunning && n.postmasterPid() == pm {
		kept = "adopted without restart"
	}
	m.t.Logf("measured: %s: Warden streaming after %.2fs, not re-cloned, PostgreSQL %s", s.name, s.to.Sub(s.from).Seconds(), kept)
	return s
}

// testRollingConversion converts a running 3-node Patroni cluster to Warden node by node
// under a write load (a writer trying every node every 20 ms): replicas first (one
// stopped, one with PostgreSQL running), then a switchover from the Patroni leader to a
// Warden replica with Patroni's own patronictl, then the old leader. No acknowledged
// write may be lost, no two nodes may accept writes at once, and the longest write gap
// is the switchover's. A switchover between two Patroni members before the conversion is
// the reference gap. Last, the old leader is turned back into a Patroni replica: the way
// back.
func testRollingConversion(t *testing.T, rel patroniRelease) {
	m := newMixed(t, rel)
	for _, n := range m.nodes {
		m.startPatroniAgent(n)
		if n == m.nodes[0] {
			m.eventually(n.name+" (Patroni) to bootstrap the primary", 120*time.Second, func() bool { return n.health("/primary") == 200 })
		}
	}
	leader := m.nodes[0]
	must(t, m.exec(leader, "CREATE TABLE e2e_rows (id int PRIMARY KEY)"))
	for _, n := range m.others(leader) {
		m.waitFollows(leader, n, 120*time.Second)
	}
	// The reference: one switchover inside the Patroni cluster.
	refGap := m.switchoverVia(rel.ctl, leader, m.nodes[1], 1)
	leader = m.nodes[1]
	startTL := timeline(leader)

	w := m.startChaosWriter(100000)
	m.eventually("the writer's first writes", 30*time.Second, func() bool { w.mu.Lock(); defer w.mu.Unlock(); return len(w.acked) > 10 })
	began := time.Now()
	replicas := m.others(leader)
	steps := []conversionStep{
		m.convertReplica(leader, replicas[0], false),
		m.convertReplica(leader, replicas[1], true),
	}
	sw := conversionStep{name: fmt.Sprintf("switchover %s (Patroni) -> %s (Warden) with patronictl %s", leader.name, replicas[0].name, rel.name), from: time.Now()}
	out := m.mustCtlRun(rel.ctl, "switchover", m.scope, "--leader", leader.name, "--candidate", replicas[0].name, "--force")
	if !strings.Contains(out, `Successfully switched over to "`+replicas[0].name+`"`) {
		t.Fatalf("switchover:\n%s", out)
	}
	m.eventually(replicas[0].name+" to be the only primary", 60*time.Second, func() bool { return m.primary() == replicas[0] })
	m.eventually("writes on "+replicas[0].name, 30*time.Second, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.accepts) > 0 && w.accepts[len(w.accepts)-1].node == replicas[0].name
	})
	sw.to = time.Now()
	t.Logf("measured: %s: new primary writable after %.2fs", sw.name, sw.to.Sub(sw.from).Seconds())
	steps = append(steps, sw)
	old := leader
	leader = replicas[0]
	m.waitFollows(leader, old, 120*time.Second)
	steps = append(steps, m.convertReplica(leader, old, false))
	// Writes keep going a little after the last step, so a late gap would show.
	m.eventually("writes after the conversion", 30*time.Second, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.accepts) > 0 && w.accepts[len(w.accepts)-1].at.After(time.Now().Add(-100*time.Millisecond)) && time.Since(steps[len(steps)-1].to) > time.Second
	})
	acked, accepts := w.finish()
	total := time.Since(began)

	m.checkRows(leader, acked)
	if split := splitBrains(accepts); split > 0 {
		t.Errorf("%d moments with two nodes accepting writes during the conversion", split)
	}
	gap, at := longestGap(accepts)
	for _, s := range steps {
		t.Logf("measured: step %-70s %6.2fs, longest write gap in it %.3fs", s.name, s.to.Sub(s.from).Seconds(), gapWithin(accepts, s).Seconds())
	}
	t.Logf("measured: rolling conversion of Patroni %s to Warden under writes: %.1fs, %d writes acknowledged, none lost, no split brain; longest write gap %.3fs (at %s into it), reference Patroni switchover gap %.3fs",
		rel.name, total.Seconds(), len(acked), gap.Seconds(), at.Sub(began).Round(time.Millisecond), refGap.Seconds())
	if swGap := gapWithin(accepts, sw); gap > swGap {
		t.Errorf("the longest write gap (%.3fs) is not the switchover's (%.3fs)", gap.Seconds(), swGap.Seconds())
	}
	// Patroni's old leader acts on the request in its next loop, so one switchover's gap
	// varies by up to loop_wait; more than that is a slower handover to Warden.
	if bound := refGap + time.Duration(rel.tm.loopWait)*time.Second + time.Second; gap > bound {
		t.Errorf("the longest write gap (%.3fs) exceeds the Patroni switchover's (%.3fs) + loop_wait + 1s", gap.Seconds(), refGap.Seconds())
	}
	if tl := timeline(leader); tl != startTL+1 {
		t.Errorf("timeline after the conversion is %d, want %d (one switchover)", tl, startTL+1)
	}
	for _, n := range m.nodes {
		if m.patroni[n] {
			t.Errorf("%s still runs Patroni", n.name)
		}
	}
	m.checkList(leader)
	m.checkMemberKeys(leader)
	for _, bin := range []string{rel.ctl, ""} {
		hist := m.mustCtlRun(bin, "history", m.scope)
		if !strings.Contains(hist, leader.name) || !strings.Contains(hist, m.nodes[1].name) {
			t.Errorf("%s history does not show both switchovers:\n%s", ctlName(bin), hist)
		}
	}
	m.revertReplica(leader, old)
}

// revertReplica turns Warden replica n back into a Patroni replica of leader p: the way
// back, node by node.
func (m *mixedCluster) revertReplica(p, n *node) {
	m.t.Helper()
	began := time.Now()
	m.stop(n)
	marker := filepath.Join(n.dir, "data", "reverted-to-patroni")
	must(m.t, os.WriteFile(marker, []byte(n.name), 0o600))
	m.startPatroniAgent(n)
	m.waitFollows(p, n, 120*time.Second)
	if _, err := os.Stat(marker); err != nil {
		m.t.Fatalf("%s was re-cloned by Patroni (the marker in its data directory is gone: %v)", n.name, err)
	}
	m.t.Logf("measured: revert replica %s to Patroni %s: streaming after %.2fs, not re-cloned", n.name, m.rel.name, time.Since(began).Seconds())
}

func TestRollingConversionPatroni3(t *testing.T) { testRollingConversion(t, release3) }
func TestRollingConversionPatroni4(t *testing.T) { testRollingConversion(t, release4) }

// keys reads every key of the cluster's etcd prefix, by its name below the prefix.
func (m *mixedCluster) keys() map[string]string {
	m.t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: m.endpoints, DialTimeout: 2 * time.Second})
	must(m.t, err)
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	prefix := "/service/" + m.scope + "/"
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
	must(m.t, err)
	out := map[string]string{}
	for _, kv := range resp.Kvs {
		out[strings.TrimPrefix(string(kv.Key), prefix)] = string(kv.Value)
	}
	return out
}

// checkMemberKeys: every member key, Patroni's and Warden's, carries the fields Patroni
// reads from its peers' keys (conn_url and api_url to connect, state, role, version,
// xlog_location and timeline for the failover checks and patronictl list), and the
// leader key names the leader.
func (m *mixedCluster) checkMemberKeys(leader *node) {
	m.t.Helper()
	m.eventually("member keys with Patroni's fields", 30*time.Second, func() bool {
		keys := m.keys()
		if keys["leader"] != leader.name {
			return false
		}
		for _, n := range m.nodes {
			var v map[string]any
			if json.Unmarshal([]byte(keys["members/"+n.name]), &v) != nil {
				return false
			}
			for _, f := range []string{"conn_url", "api_url", "state", "role", "version", "xlog_location", "timeline"} {
				if _, ok := v[f]; !ok {
					return false
				}
			}
			role := v["role"].(string)
			if n == leader && role != "master" && role != "primary" || n != leader && role != "replica" || v["state"] != "running" {
				return false
			}
		}
		return true
	})
}

// checkMemberSlots: the leader publishes a position for every member's slot in /status,
// its own at its WAL position (Patroni 4 does, and its replicas keep a slot for every other
// member, advanced to those positions); on each Patroni 4 replica those slots pass a
// position the leader reached after it took over.
func (m *mixedCluster) checkMemberSlots(leader *node) {
	m.t.Helper()
	lsn, err := m.queryInt(leader, "SELECT pg_current_wal_lsn() - '0/0'")
	must(m.t, err)
	must(m.t, m.exec(leader, "INSERT INTO e2e_rows SELECT generate_series(900000, 900999)"))
	m.eventually("/status slots for every member past the leader's position", 30*time.Second, func() bool {
		var st struct{ Slots map[string]uint64 }
		if json.Unmarshal([]byte(m.keys()["status"]), &st) != nil {
			return false
		}
		for _, n := range m.nodes {
			if st.Slots[strings.ReplaceAll(n.name, "-", "_")] < uint64(lsn) {
				return false
			}
		}
		return true
	})
	for _, n := range m.others(leader) {
		if !m.patroni[n] {
			continue
		}
		var names []string
		for _, o := range m.others(n) {
			names = append(names, "'"+strings.ReplaceAll(o.name, "-", "_")+"'")
		}
		q := fmt.Sprintf("SELECT count(*) FROM pg_replication_slots WHERE slot_name IN (%s) AND restart_lsn >= '%X/%X'", strings.Join(names, ","), lsn>>32, lsn&0xFFFFFFFF)
		m.eventually(n.name+" (Patroni) to advance its member slots past the Warden leader's position", 60*time.Second, func() bool {
			v, err := m.queryInt(n, q)
			return err == nil && v == int64(len(names))
		})
	}
}

// waitSync waits until the leader is named in /sync with every other member as a
// synchronous standby, and its PostgreSQL confirms them synchronous.
func (m *mixedCluster) waitSync(leader *node) {
	m.t.Helper()
	var last string
	m.eventually(leader.name+" ("+m.agentName(leader)+") to have every other member synchronous", 90*time.Second, func() bool {
		last = m.keys()["sync"]
		var st struct {
			Leader      string `json:"leader"`
			SyncStandby string `json:"sync_standby"`
		}
		if json.Unmarshal([]byte(last), &st) != nil || st.Leader != leader.name {
			return false
		}
		names := strings.Split(st.SyncStandby, ",")
		sort.Strings(names)
		var want []string
		for _, n := range m.others(leader) {
			want = append(want, n.name)
		}
		if strings.Join(names, ",") != strings.Join(want, ",") {
			return false
		}
		v, err := m.queryInt(leader, "SELECT count(*) FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')")
		return err == nil && v == int64(len(want))
	})
	m.t.Logf("%s (%s) leads with /sync %s", leader.name, m.agentName(leader), last)
}

// testMixedSync: synchronous_mode with synchronous_node_count 2 in a mixed cluster. A
// Patroni leader makes the Warden replica synchronous, a Warden leader the Patroni ones,
// each naming them in /sync; switchovers both ways keep every acknowledged write.
func testMixedSync(t *testing.T, rel patroniRelease) {
	m := newMixed(t, rel)
	m.bootstrapDCS = "    synchronous_mode: true\n    synchronous_node_count: 2\n"
	m.writeConfigs(rel.tm)
	pa, w, pb := m.nodes[0], m.nodes[1], m.nodes[2]
	m.startPatroniAgent(pa)
	m.eventually(pa.name+" (Patroni) to bootstrap the primary", 120*time.Second, func() bool { return pa.health("/primary") == 200 })
	must(t, m.exec(pa, "CREATE TABLE e2e_rows (id int PRIMARY KEY)"))
	m.startWarden(w)
	m.startPatroniAgent(pb)
	m.waitFollows(pa, w, 120*time.Second)
	m.waitFollows(pa, pb, 120*time.Second)
	m.waitSync(pa)
	m.switchoverVia(rel.ctl, pa, w, 1000)
	m.waitSync(w)
	m.switchoverVia("", w, pb, 2000)
	m.waitSync(pb)
}

func TestMixedSyncPatroni3(t *testing.T) { testMixedSync(t, release3) }
func TestMixedSyncPatroni4(t *testing.T) { testMixedSync(t, release4) }
