//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// script writes an executable shell script into the node's directory, owned by the
// postgres user, and returns its path.
func (c *testCluster) script(n *node, name, body string) string {
	c.t.Helper()
	path := filepath.Join(n.dir, name)
	must(c.t, os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755))
	must(c.t, os.Chown(path, int(c.owner.uid), int(c.owner.gid)))
	return path
}

// basebackupMethod writes a custom replica method script that records its arguments and
// PGPASSFILE in record, then runs pg_basebackup itself with --datadir and --connstring.
func (c *testCluster) basebackupMethod(n *node, name, record string) string {
	return c.script(n, name, fmt.Sprintf(`echo "args $*" >> %[1]s
echo "pgpassfile $PGPASSFILE" >> %[1]s
for a in "$@"; do
  case "$a" in
    --datadir=*) dir="${a#--datadir=}" ;;
    --connstring=*) dsn="${a#--connstring=}" ;;
  esac
done
exec %[2]s/pg_basebackup --pgdata="$dir" -X stream --dbname="$dsn"
`, record, pgBin))
}

// psqlLocal is a shell command asking the node's own PostgreSQL one question, with the
// superuser password from the pgpass file Warden writes.
func psqlLocal(n *node, sql string) string {
	return fmt.Sprintf("PGPASSFILE=%s/pgpass PGCONNECT_TIMEOUT=2 %s/psql -X -At -h %s -p %d -U postgres -d postgres -c %q",
		n.dir, pgBin, n.host, n.pgPort, sql)
}

// startFirst starts the first node alone and waits until it is the primary, so the
// configuration the others get is the one a clone uses.
func (c *testCluster) startFirst() *node {
	c.t.Helper()
	first := c.nodes[0]
	c.start(first)
	c.eventually(first.name+" to be the primary", 60*time.Second, func() bool { return first.health("/primary") == 200 })
	must(c.t, c.exec(first, "CREATE TABLE e2e_rows (id int PRIMARY KEY)"))
	must(c.t, c.exec(first, "INSERT INTO e2e_rows VALUES (1)"))
	return first
}

// TestReplicaMethods: a custom replica creation method listed before basebackup creates
// the replica (it records the arguments Warden passes and runs pg_basebackup itself with
// --connstring and the PGPASSFILE Warden sets); on another node a first method that
// fails falls back to basebackup. Both replicas stream from the leader.
func TestReplicaMethods(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	first, custom, fallback := c.nodes[0], c.nodes[1], c.nodes[2]
	record := func(n *node) string { return filepath.Join(n.dir, "method.log") }
	c.pgExtra = func(n *node) string {
		switch n {
		case custom:
			path := c.basebackupMethod(n, "clone.sh", record(n))
			return fmt.Sprintf("  create_replica_methods: [custom, basebackup]\n  custom:\n    command: %s\n    threads: 2\n    label: \"e2e copy\"\n", path)
		case fallback:
			path := c.script(n, "broken.sh", fmt.Sprintf("echo \"broken $*\" >> %s\necho 'cannot reach the backup store' >&2\nexit 3\n", record(n)))
			return fmt.Sprintf("  create_replica_methods: [broken, basebackup]\n  broken:\n    command: %s\n    no_params: true\n    keep_data: true\n    bucket: s3://e2e\n", path)
		}
		return ""
	}
	c.writeConfigs(fast)
	p := c.startFirst()
	if p != first {
		t.Fatalf("unexpected primary %s", p.name)
	}
	c.start(custom)
	c.start(fallback)
	c.waitReplica(custom, 90*time.Second)
	c.waitReplica(fallback, 90*time.Second)

	got := readLines(record(custom))
	leaderDSN := fmt.Sprintf("dbname=postgres user=replicator host=%s port=%d", first.host, first.pgPort)
	wantArgs := fmt.Sprintf("args --scope=%s --role=replica --datadir=%s/data --connstring=%s --label=e2e copy --threads=2",
		c.scope, custom.dir, leaderDSN)
	if len(got) != 2 || got[0] != wantArgs || got[1] != "pgpassfile "+filepath.Join(custom.dir, "pgpass") {
		t.Fatalf("custom method record:\n%s\nwant:\n%s\npgpassfile %s/pgpass", strings.Join(got, "\n"), wantArgs, custom.dir)
	}
	if !c.logContains(custom, "replica has been created using custom") || c.logContains(custom, "replica has been created using basebackup") {
		t.Fatalf("%s: the replica was not created by the custom method", custom.name)
	}
	if got := readLines(record(fallback)); len(got) != 1 || got[0] != "broken --bucket=s3://e2e" {
		t.Fatalf("broken method record %q, want [\"broken --bucket=s3://e2e\"] (no_params: only the section's own keys)", got)
	}
	if !c.logContains(fallback, "Error creating replica using method broken") || !c.logContains(fallback, "cannot reach the backup store") ||
		!c.logContains(fallback, "replica has been created using basebackup") {
		t.Fatalf("%s: no fallback from the failing method to basebackup in the log", fallback.name)
	}
	for _, n := range []*node{custom, fallback} {
		b, _ := os.ReadFile(n.logPath)
		if strings.Contains(string(b), replPassword) || strings.Contains(string(b), superPassword) {
			t.Fatalf("%s: a password is in the agent's log", n.name)
		}
	}
	must(t, c.exec(first, "INSERT INTO e2e_rows VALUES (2)"))
	for _, n := range []*node{custom, fallback} {
		c.eventually(n.name+" to stream from the leader", 30*time.Second, func() bool {
			v, err := c.queryInt(first, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND application_name = '"+n.name+"'")
			return err == nil && v == 1
		})
		c.eventually("both rows on "+n.name, 10*time.Second, func() bool {
			v, err := c.queryInt(n, "SELECT count(*) FROM e2e_rows")
			return err == nil && v == 2
		})
	}
}

// TestPrePromote: after kill -9 of the primary, the replica whose pre_promote script
// exits 1 takes the leader key, does not promote, releases the key and backs off; the
// other replica's script exits 0 while it is still in recovery, then it promotes. No
// moment shows two writable nodes.
func TestPrePromote(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	first, refuses, accepts := c.nodes[0], c.nodes[1], c.nodes[2]
	record := func(n *node) string { return filepath.Join(n.dir, "pre_promote.log") }
	c.pgExtra = func(n *node) string {
		code := 0
		if n == refuses {
			code = 1
		}
		path := c.script(n, "pre_promote.sh", fmt.Sprintf("echo \"$(date +%%s.%%N) in_recovery=$(%s)\" >> %s\nexit %d\n",
			psqlLocal(n, "SELECT pg_is_in_recovery()"), record(n), code))
		return fmt.Sprintf("  pre_promote: %s\n", path)
	}
	c.writeConfigs(fast)
	c.startFirst()
	c.start(refuses)
	c.start(accepts)
	c.waitReplica(refuses, 90*time.Second)
	c.waitReplica(accepts, 90*time.Second)

	// Hold the accepting node's agent still, so the refusing one surely wins the race.
	must(t, syscall.Kill(accepts.agentPid(), syscall.SIGSTOP))
	stopped := true
	defer func() {
		if stopped {
			_ = syscall.Kill(accepts.agentPid(), syscall.SIGCONT)
		}
	}()
	watch := c.watchWritable()
	killed := time.Now()
	c.kill9(first)
	c.eventually(refuses.name+" to refuse the promotion and release the key", 60*time.Second, func() bool {
		return c.logContains(refuses, "Promotion cancelled because the pre-promote script failed")
	})
	released := time.Now()
	if got := readLines(record(refuses)); len(got) == 0 || !strings.HasSuffix(got[0], "in_recovery=t") {
		t.Fatalf("%s pre_promote record %q", refuses.name, got)
	}
	for _, want := range []string{"pre_promote script `" + filepath.Join(refuses.dir, "pre_promote.sh") + "` exited with 1", "release-leader(backoff)"} {
		if !c.logContains(refuses, want) {
			t.Fatalf("%s: %q is not in the log", refuses.name, want)
		}
	}
	// While the other replica is still held, the refusing node backs off: it does not
	// race again within ttl of the release.
	c.eventually(refuses.name+" to back off", 10*time.Second, func() bool {
		return c.logContains(refuses, "backoff: skip leader race after pre_promote script failure and releasing the lock voluntarily")
	})
	time.Sleep(time.Second)
	if n := strings.Count(readFile(refuses.logPath), "Promotion cancelled because the pre-promote script failed"); n != 1 || len(readLines(record(refuses))) != 1 {
		t.Fatalf("%s raced again during its backoff (%d refusals)", refuses.name, n)
	}
	must(t, syscall.Kill(accepts.agentPid(), syscall.SIGCONT))
	stopped = false
	resumed := time.Now()
	p := c.waitPrimary(60 * time.Second)
	promoted := time.Now()
	if p != accepts {
		t.Fatalf("primary %s, want %s", p.name, accepts.name)
	}
	got := readLines(record(accepts))
	if len(got) != 1 || !strings.HasSuffix(got[0], "in_recovery=t") {
		t.Fatalf("%s pre_promote record %q: want one run while still in recovery", accepts.name, got)
	}
	var sec, nsec int64
	if _, err := fmt.Sscanf(got[0], "%d.%d", &sec, &nsec); err != nil {
		t.Fatalf("%s pre_promote record %q: %v", accepts.name, got[0], err)
	}
	ran := time.Unix(sec, nsec)
	if ran.Before(resumed) || ran.After(promoted) {
		t.Fatalf("%s pre_promote ran at %s, not between the race (%s) and the promotion (%s)", accepts.name, ran, resumed, promoted)
	}
	c.waitReplica(refuses, 60*time.Second)
	if n := watch.stop(); n != nil {
		t.Fatalf("%s was writable: it must never promote", n.name)
	}
	must(t, c.exec(accepts, "INSERT INTO e2e_rows VALUES (2)"))
	t.Logf("kill -9 -> %s refused and released the key: %s; %s resumed -> pre_promote ran: %s -> writable primary: %s",
		refuses.name, released.Sub(killed).Round(time.Millisecond), accepts.name, ran.Sub(resumed).Round(time.Millisecond), promoted.Sub(resumed).Round(time.Millisecond))
}

// writableWatch polls every node's pg_is_in_recovery; it reports the refusing node if it
// was ever out of recovery and fails on two writable nodes at once.
type writableWatch struct {
	done chan struct{}
	res  chan *node
}

// watchWritable watches until stop: it fails the test on two nodes out of recovery at
// once, and returns the first node other than the one allowed that was writable.
func (c *testCluster) watchWritable() *writableWatch {
	w := &writableWatch{done: make(chan struct{}), res: make(chan *node, 1)}
	go func() {
		var bad *node
		defer func() { w.res <- bad }()
		for {
			select {
			case <-w.done:
				return
			case <-time.After(100 * time.Millisecond):
			}
			var writable []*node
			for _, n := range c.nodes {
				if v, err := c.queryInt(n, "SELECT CASE WHEN pg_is_in_recovery() THEN 0 ELSE 1 END"); err == nil && v == 1 {
					writable = append(writable, n)
				}
			}
			if len(writable) > 1 {
				c.t.Errorf("two writable primaries: %s and %s", writable[0].name, writable[1].name)
			}
			for _, n := range writable {
				if n == c.nodes[1] && bad == nil {
					bad = n
				}
			}
		}
	}()
	return w
}

func (w *writableWatch) stop() *node {
	close(w.done)
	return <-w.res
}

// TestBeforeStop: the old primary's before_stop script runs while PostgreSQL still
// accepts connections, right before the switchover's stop; it exits 1 and the
// switchover goes through.
func TestBeforeStop(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	record := func(n *node) string { return filepath.Join(n.dir, "before_stop.log") }
	c.pgExtra = func(n *node) string {
		path := c.script(n, "before_stop.sh", fmt.Sprintf("echo \"$(date +%%s.%%N) in_recovery=$(%s)\" >> %s\nexit 1\n",
			psqlLocal(n, "SELECT pg_is_in_recovery()"), record(n)))
		return fmt.Sprintf("  before_stop: %s\n", path)
	}
	c.writeConfigs(fast)
	old := c.up(t)
	target := c.others(old)[0]
	for _, n := range c.nodes {
		if got := readLines(record(n)); len(got) != 0 {
			t.Fatalf("%s: before_stop ran before any stop: %q", n.name, got)
		}
	}
	began := time.Now()
	c.switchover(old, target)
	c.eventually(target.name+" to be the primary", 60*time.Second, func() bool { return target.health("/primary") == 200 })
	took := time.Since(began)
	c.waitReplica(old, 60*time.Second)
	got := readLines(record(old))
	if len(got) != 1 || !strings.HasSuffix(got[0], "in_recovery=f") {
		t.Fatalf("%s before_stop record %q: want one run while it was still the running primary", old.name, got)
	}
	if !c.logContains(old, "before_stop script `"+filepath.Join(old.dir, "before_stop.sh")+"` exited with 1") {
		t.Fatalf("%s: before_stop's exit code is not logged", old.name)
	}
	for _, n := range c.others(old) {
		if got := readLines(record(n)); len(got) != 0 {
			t.Fatalf("%s: before_stop ran though its PostgreSQL was not stopped: %q", n.name, got)
		}
	}
	t.Logf("switchover with a failing before_stop: %s", took.Round(time.Millisecond))
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// TestReplicaMethodWithoutLeader: while the primary is down and nobody holds the leader
// key, a new node whose replica method is marked no_leader restores its data directory
// from a backup (with an empty --connstring) and runs as a standby; once the old primary
// is back and leads again, the restored node streams from it.
func TestReplicaMethodWithoutLeader(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	first, restored := c.nodes[0], c.nodes[1]
	backup := filepath.Join(c.dir, "backup")
	record := filepath.Join(restored.dir, "restore.log")
	c.pgExtra = func(n *node) string {
		if n != restored {
			return ""
		}
		path := c.script(n, "restore.sh", fmt.Sprintf(`echo "args $*" >> %s
for a in "$@"; do
  case "$a" in --datadir=*) dir="${a#--datadir=}" ;; esac
done
mkdir -p "$dir" && cp -a %s/. "$dir"/
`, record, backup))
		// nofailover: the restored node must wait for the old primary, not lead.
		return fmt.Sprintf("  create_replica_methods: [restore, basebackup]\n  restore:\n    command: %s\n    no_leader: true\ntags:\n  nofailover: true\n", path)
	}
	c.writeConfigs(fast)
	c.startFirst()
	cmd := exec.Command(pgBin+"/pg_basebackup", "-D", backup, "-X", "stream", "-h", first.host, "-p", fmt.Sprint(first.pgPort), "-U", "replicator", "-w")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: c.owner.uid, Gid: c.owner.gid}}
	cmd.Env = []string{"PGPASSWORD=" + replPassword, "PATH=/usr/bin:/bin"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pg_basebackup for the test's backup: %v\n%s", err, out)
	}
	must(t, c.exec(first, "INSERT INTO e2e_rows VALUES (2)"))
	c.kill9(first)
	time.Sleep(time.Duration(fast.ttl+2) * time.Second) // the leader key expires

	c.start(restored)
	c.eventually(restored.name+" restored from the backup without a leader", 60*time.Second, func() bool {
		v, err := c.queryInt(restored, "SELECT count(*) FROM e2e_rows")
		return err == nil && v == 1
	})
	for _, want := range []string{"trying to bootstrap (without leader)", "clone(without leader)", "replica has been created using restore"} {
		if !c.logContains(restored, want) {
			t.Fatalf("%s: %q is not in the log", restored.name, want)
		}
	}
	wantArgs := fmt.Sprintf("args --scope=%s --role=replica --datadir=%s/data --connstring= --no_leader=True", c.scope, restored.dir)
	if got := readLines(record); len(got) != 1 || got[0] != wantArgs {
		t.Fatalf("restore record %q, want [%q]", got, wantArgs)
	}
	if v, err := c.queryInt(restored, "SELECT CASE WHEN pg_is_in_recovery() THEN 1 ELSE 0 END"); err != nil || v != 1 {
		t.Fatalf("%s is not a standby after the restore: %v %v", restored.name, v, err)
	}

	c.start(first)
	p := c.waitPrimary(60 * time.Second)
	if p != first {
		t.Fatalf("primary %s, want %s", p.name, first.name)
	}
	c.waitReplica(restored, 60*time.Second)
	c.eventually("the row written after the backup on "+restored.name, 30*time.Second, func() bool {
		v, err := c.queryInt(restored, "SELECT count(*) FROM e2e_rows")
		return err == nil && v == 2
	})
}
