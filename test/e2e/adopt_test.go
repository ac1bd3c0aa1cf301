//go:build e2e

package e2e

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTakeOverExistingCluster is the repmgr-to-Patroni migration: a PostgreSQL 15 cluster
// made by hand (initdb + pg_ctl as the postgres user, outside Warden) is taken over by
// Warden while it runs, after a clean stop, and after a crash. Warden becomes its leader
// without initdb, keeps every row and the original postgresql.conf (as
// postgresql.base.conf, included), and two empty nodes join it as replicas. A node whose
// data directory holds another cluster refuses to join and leaves it untouched.
func TestTakeOverExistingCluster(t *testing.T) {
	endpoints := startEmbeddedEtcd(t)
	for _, tc := range []struct {
		name string
		// stop is how the hand-made cluster is left before Warden starts: "" keeps it running.
		stop string
		// foreign: the third node first brings a data directory of another cluster.
		foreign bool
	}{
		{name: "running", foreign: true},
		{name: "stopped cleanly", stop: "fast"},
		{name: "crashed", stop: "immediate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, endpoints, fast)
			// One etcd for all cases: each takes over its own cluster.
			c.scope += "-" + strings.ReplaceAll(tc.name, " ", "-")
			c.writeConfigs(fast)
			n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
			// rows written by hand, plus the row 0 written once Warden leads.
			const rows = 501
			sysid := c.handMadeCluster(n1, rows-1)
			origConf, err := os.ReadFile(filepath.Join(n1.dir, "data", "postgresql.conf"))
			must(t, err)
			pmBefore := n1.postmasterPid()
			if tc.stop != "" {
				c.pgCtl(n1, "stop", "-m", tc.stop)
				if tc.stop == "immediate" {
					if state := c.controlState(n1); state != "in production" {
						t.Fatalf("after an immediate stop the cluster state is %q, want in production", state)
					}
				}
			}

			begin := time.Now()
			c.start(n1)
			if p := c.waitPrimary(90 * time.Second); p != n1 {
				t.Fatalf("primary is %s, want %s", p.name, n1.name)
			}
			// /primary answers from the role and the lock: a crashed primary restarting
			// in crash recovery is already reported as the primary.
			c.eventually("a write on "+n1.name, 60*time.Second, func() bool {
				return c.exec(n1, "INSERT INTO e2e_rows VALUES (0)") == nil
			})
			t.Logf("measured: %s cluster taken over (leader, first write) in %.2fs", tc.name, time.Since(begin).Seconds())
			c.checkTakenOver(n1, sysid, rows, origConf, 1)
			if tc.stop == "" && n1.postmasterPid() != pmBefore {
				t.Errorf("the running postmaster (pid %d) was not adopted: now pid %d", pmBefore, n1.postmasterPid())
			}

			if tc.foreign {
				c.refuseForeign(n3)
			}
			begin = time.Now()
			c.start(n2)
			c.start(n3)
			for _, n := range []*node{n2, n3} {
				c.waitReplica(n, 90*time.Second)
				c.eventually(n.name+" to see every row", 30*time.Second, func() bool {
					v, err := c.queryInt(n, "SELECT count(*) FROM e2e_rows")
					return err == nil && v == rows
				})
			}
			t.Logf("measured: two empty nodes streaming with every row %.2fs after they started", time.Since(begin).Seconds())
		})
	}
}

// TestTakeOverStandby: Warden started on a hand-made standby (pg_basebackup -R, started
// with pg_ctl) waits while it streams from its primary; once that primary is gone, with
// no other member in the DCS, it promotes the standby as the only candidate; an empty node
// and the old primary (same system identifier) then join it as replicas.
func TestTakeOverStandby(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	old, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	const rows = 300
	sysid := c.handMadeCluster(old, rows)
	data := filepath.Join(n2.dir, "data")
	c.asPostgresEnv([]string{"PGPASSWORD=" + replPassword}, "pg_basebackup", "-D", data, "-h", "127.0.0.1",
		"-p", fmt.Sprint(old.pgPort), "-U", "replicator", "-X", "stream", "-R")
	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	_, err = fmt.Fprintf(f, "port = %d\nunix_socket_directories = '%s'\n", n2.pgPort, n2.dir)
	must(t, err)
	must(t, f.Close())
	origConf, err := os.ReadFile(filepath.Join(data, "postgresql.conf"))
	must(t, err)
	c.pgCtl(n2, "start")
	c.eventually("the hand-made standby to replay every row", 30*time.Second, func() bool {
		v, err := c.queryInt(n2, "SELECT count(*) FROM e2e_rows")
		return err == nil && v == rows
	})
	// While its primary (not under Warden) still streams to it, the standby waits.
	c.start(n2)
	c.eventually(n2.name+" to wait for the streaming primary", 30*time.Second, func() bool {
		return c.logContains(n2, "PostgreSQL is a standby streaming from a running primary: waiting")
	})
	if v, err := c.queryInt(n2, "SELECT pg_is_in_recovery()::int"); err != nil || v != 1 {
		t.Fatalf("the standby left recovery while its primary ran (in recovery=%d, %v)", v, err)
	}
	begin := time.Now()
	c.pgCtl(old, "stop", "-m", "fast")
	if p := c.waitPrimary(90 * time.Second); p != n2 {
		t.Fatalf("primary is %s, want %s", p.name, n2.name)
	}
	c.eventually("a write on "+n2.name, 60*time.Second, func() bool {
		return c.exec(n2, "INSERT INTO e2e_rows VALUES (0)") == nil
	})
	t.Logf("measured: hand-made standby promoted (first write) %.2fs after its primary stopped", time.Since(begin).Seconds())
	c.checkTakenOver(n2, sysid, rows+1, origConf, 2)
	if !c.logContains(n2, "promoted self to leader by acquiring session lock") {
		t.Error("the standby was not promoted by the leader race")
	}
	// An empty node joins; the old hand-made primary (same system identifier) rejoins as
	// a replica of the new leader, its own postgresql.conf kept as its base.
	oldConf, err := os.ReadFile(filepath.Join(old.dir, "data", "postgresql.conf"))
	must(t, err)
	c.start(n3)
	c.start(old)
	for _, n := range []*node{n3, old} {
		c.waitReplica(n, 90*time.Second)
		c.eventually(n.name+" to see every row", 30*time.Second, func() bool {
			v, err := c.queryInt(n, "SELECT count(*) FROM e2e_rows")
			return err == nil && v == rows+1
		})
	}
	base, err := os.ReadFile(filepath.Join(old.dir, "data", "postgresql.base.conf"))
	must(t, err)
	if string(base) != string(oldConf) {
		t.Error("the old primary's postgresql.base.conf differs from its original postgresql.conf")
	}
}

// asPostgres runs a PostgreSQL tool as the postgres OS user.
func (c *testCluster) asPostgres(tool string, args ...string) string {
	c.t.Helper()
	return c.asPostgresEnv(nil, tool, args...)
}

func (c *testCluster) asPostgresEnv(env []string, tool string, args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(pgBin, tool), args...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "LANG=C", "LC_ALL=C"}, env...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: c.owner.uid, Gid: c.owner.gid}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		c.t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (c *testCluster) pgCtl(n *node, args ...string) {
	c.t.Helper()
	data := filepath.Join(n.dir, "data")
	c.asPostgres("pg_ctl", append([]string{"-D", data, "-w", "-t", "60", "-l", filepath.Join(n.dir, "pg_ctl.log")}, args...)...)
}

func (c *testCluster) controlState(n *node) string {
	c.t.Helper()
	out := c.asPostgres("pg_controldata", filepath.Join(n.dir, "data"))
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "Database cluster state:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// initdb creates a cluster in n's data directory as an operator would, with the roles
// and pg_hba lines the Warden configuration expects, and returns its system identifier.
func (c *testCluster) initdb(n *node) {
	c.t.Helper()
	pwfile := filepath.Join(n.dir, "pwfile")
	must(c.t, os.WriteFile(pwfile, []byte(superPassword+"\n"), 0o600))
	must(c.t, os.Chown(pwfile, int(c.owner.uid), int(c.owner.gid)))
	c.asPostgres("initdb", "-D", filepath.Join(n.dir, "data"), "-U", "postgres", "--pwfile="+pwfile,
		"--auth=scram-sha-256", "--encoding=UTF8")
	must(c.t, os.Remove(pwfile))
}

// handMadeCluster initdbs and starts a cluster on n's port outside Warden, creates the
// roles the Warden configuration names, writes rows and returns the system identifier.
func (c *testCluster) handMadeCluster(n *node, rows int) string {
	c.t.Helper()
	c.initdb(n)
	conf := filepath.Join(n.dir, "data", "postgresql.conf")
	f, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
	must(c.t, err)
	_, err = fmt.Fprintf(f, "\n# set by the operator before the migration\nlisten_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\nwork_mem = '7MB'\nwal_log_hints = on\nwal_keep_size = '256MB'\n",
		n.pgPort, n.dir)
	must(c.t, err)
	must(c.t, f.Close())
	c.pgCtl(n, "start")
	for _, sql := range []string{
		fmt.Sprintf("CREATE ROLE replicator REPLICATION LOGIN PASSWORD '%s'", replPassword),
		fmt.Sprintf("CREATE ROLE rewinder SUPERUSER LOGIN PASSWORD '%s'", rewindPass),
		"CREATE TABLE e2e_rows (id int PRIMARY KEY)",
		fmt.Sprintf("INSERT INTO e2e_rows SELECT generate_series(1, %d)", rows),
	} {
		must(c.t, c.exec(n, sql))
	}
	id, err := c.queryInt(n, "SELECT system_identifier FROM pg_control_system()")
	must(c.t, err)
	return fmt.Sprint(id)
}

// checkTakenOver: the leader serves the hand-made cluster itself (same system identifier,
// every row), no initdb ran, and the original postgresql.conf is kept as the included base.
func (c *testCluster) checkTakenOver(n *node, sysid string, rows int, origConf []byte, timeline int) {
	c.t.Helper()
	id, err := c.queryInt(n, "SELECT system_identifier FROM pg_control_system()")
	must(c.t, err)
	if fmt.Sprint(id) != sysid {
		c.t.Fatalf("system identifier is %d, want %s: the data directory was replaced", id, sysid)
	}
	if v, err := c.queryInt(n, "SELECT count(*) FROM e2e_rows"); err != nil || v != int64(rows) {
		c.t.Fatalf("rows after the takeover = %d (%v), want %d", v, err, rows)
	}
	for _, s := range []string{"initdb:", "initialized a new cluster"} {
		if c.logContains(n, s) {
			c.t.Errorf("the log shows %q: initdb ran", s)
		}
	}
	if !c.logContains(n, "taking over the existing cluster (system identifier "+sysid+")") {
		c.t.Error("no log line about taking over the existing cluster")
	}
	base, err := os.ReadFile(filepath.Join(n.dir, "data", "postgresql.base.conf"))
	must(c.t, err)
	if string(base) != string(origConf) {
		c.t.Errorf("postgresql.base.conf differs from the original postgresql.conf")
	}
	c.eventually("postgresql.conf written by Warden, including the base", 30*time.Second, func() bool {
		b, _ := os.ReadFile(filepath.Join(n.dir, "data", "postgresql.conf"))
		return strings.HasPrefix(string(b), "# Do not edit this file manually!") && strings.Contains(string(b), "include 'postgresql.base.conf'")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := connect(ctx, n)
	must(c.t, err)
	defer conn.Close(context.Background())
	var workMem string
	must(c.t, conn.QueryRow(ctx, "SHOW work_mem").Scan(&workMem))
	if workMem != "7MB" {
		c.t.Errorf("work_mem = %s, want the original 7MB from postgresql.base.conf", workMem)
	}
	var tl int
	must(c.t, conn.QueryRow(ctx, "SELECT timeline_id FROM pg_control_checkpoint()").Scan(&tl))
	if tl != timeline {
		c.t.Errorf("timeline = %d, want %d", tl, timeline)
	}
}

// refuseForeign starts n on a data directory holding another cluster (its own initdb):
// the agent must exit naming both system identifiers and leave every file as it was.
func (c *testCluster) refuseForeign(n *node) {
	c.t.Helper()
	c.initdb(n)
	data := filepath.Join(n.dir, "data")
	foreign := strings.TrimSpace(strings.TrimPrefix(grepLine(c.asPostgres("pg_controldata", data), "Database system identifier:"), "Database system identifier:"))
	before := snapshotDir(c.t, data)
	c.start(n)
	pid := n.agentPid()
	c.eventually(n.name+" to refuse and exit", 60*time.Second, func() bool { return !alive(pid) })
	c.waitGone(n, 0)
	leaderID := c.leaderSysID()
	want := fmt.Sprintf("system ID mismatch, node %s belongs to a different cluster: %s != %s", n.name, leaderID, foreign)
	if !c.logContains(n, want) {
		c.t.Fatalf("%s's log lacks %q", n.name, want)
	}
	if after := snapshotDir(c.t, data); after != before {
		c.t.Fatalf("the foreign data directory changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	must(c.t, os.Rename(data, data+".foreign"))
}

func (c *testCluster) leaderSysID() string {
	c.t.Helper()
	id, err := c.queryInt(c.waitPrimary(10*time.Second), "SELECT system_identifier FROM pg_control_system()")
	must(c.t, err)
	return fmt.Sprint(id)
}

func grepLine(out, prefix string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return ""
}

// snapshotDir lists every entry of dir with its mode, size, modification time and the
// content's hash.
func snapshotDir(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	must(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		sum := ""
		if info.Mode().IsRegular() {
			content, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			sum = fmt.Sprintf("%x", sha256.Sum256(content))
		}
		fmt.Fprintf(&b, "%s %s %d %d %s\n", strings.TrimPrefix(path, dir), info.Mode(), info.Size(), info.ModTime().UnixNano(), sum)
		return nil
	}))
	return b.String()
}
