//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// writeScript writes an executable shell script owned by the postgres user.
func (c *testCluster) writeScript(name, body string) string {
	c.t.Helper()
	path := filepath.Join(c.dir, name)
	must(c.t, os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755))
	must(c.t, os.Chown(path, int(c.owner.uid), int(c.owner.gid)))
	return path
}

// initializeKey reads the cluster's initialize key; ok is false when it is absent.
func (c *testCluster) initializeKey() (string, bool) {
	c.t.Helper()
	return c.dcsKey("initialize")
}

// dcsKey reads /service/<scope>/<key>.
func (c *testCluster) dcsKey(key string) (string, bool) {
	c.t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.endpoints, DialTimeout: 2 * time.Second})
	must(c.t, err)
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/service/"+c.scope+"/"+key)
	must(c.t, err)
	if len(resp.Kvs) == 0 {
		return "", false
	}
	return string(resp.Kvs[0].Value), true
}

// upAll starts every node and waits for one primary and streaming replicas.
func (c *testCluster) upAll(timeout time.Duration) *node {
	c.t.Helper()
	for _, n := range c.nodes {
		c.start(n)
	}
	p := c.waitPrimary(timeout)
	for _, n := range c.others(p) {
		c.waitReplica(n, timeout)
	}
	return p
}

// checkNoSecret fails when the superuser's password appears in any node's log (the
// agent's and PostgreSQL's, which share the file).
func (c *testCluster) checkNoSecret(secrets ...string) {
	c.t.Helper()
	for _, n := range c.nodes {
		b, _ := os.ReadFile(n.logPath)
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				c.t.Errorf("%s's log contains a password", n.name)
			}
		}
	}
}

// TestPostBootstrap: bootstrap.post_bootstrap runs once, on the node that bootstraps,
// with a DSN without password as its argument, PGPASSFILE holding the password and
// PGOPTIONS=-c synchronous_commit=local; the role and table it creates with psql are on
// every replica; no password reaches a log.
func TestPostBootstrap(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	seen := filepath.Join(c.dir, "post_bootstrap.seen")
	script := c.writeScript("post_bootstrap.sh", fmt.Sprintf(`set -e
echo "post_bootstrap on $(hostname) with $# argument(s)"
printf '%%s\n' "$1" "$PGOPTIONS" "$PGPASSFILE" "$(stat -c %%a "$PGPASSFILE")" >> %[1]s
%[2]s/psql "$1" -v ON_ERROR_STOP=1 -c "CREATE ROLE app_owner LOGIN PASSWORD 'app-pw'" \
  -c "CREATE TABLE app_setup (id int PRIMARY KEY, commit_mode text)" \
  -c "INSERT INTO app_setup VALUES (1, current_setting('synchronous_commit'))"
`, seen, pgBin))
	c.bootstrapExtra = func(*node) string { return "  post_init: /bin/false\n  post_bootstrap: " + script + "\n" }
	c.writeConfigs(fast)
	began := time.Now()
	p := c.upAll(90 * time.Second)
	t.Logf("measured: bootstrap with post_bootstrap until every replica streams: %.1fs", time.Since(began).Seconds())

	lines := readLines(seen)
	if len(lines) != 4 {
		t.Fatalf("post_bootstrap ran %d times or saw %q; want once", len(lines)/4, lines)
	}
	dsn, pgopts, passfile, mode := lines[0], lines[1], lines[2], lines[3]
	want := fmt.Sprintf("dbname=postgres user=postgres host=127.0.0.1 port=%d", p.pgPort)
	if !strings.HasPrefix(dsn, want) || strings.Contains(dsn, "password") {
		t.Errorf("DSN %q, want %q... without a password", dsn, want)
	}
	if pgopts != "-c synchronous_commit=local" || passfile != filepath.Join(p.dir, "pgpass") || mode != "600" {
		t.Errorf("PGOPTIONS %q, PGPASSFILE %q mode %s", pgopts, passfile, mode)
	}
	if !c.logContains(p, "running post_bootstrap") || !c.logContains(p, "post_bootstrap on ") {
		t.Error("the primary's log lacks the post_bootstrap lines or the script's output")
	}
	must(t, c.exec(p, "INSERT INTO app_setup VALUES (2, 'after')"))
	for _, n := range c.nodes {
		c.eventually(n.name+" to have the post_bootstrap objects", 30*time.Second, func() bool {
			roles, err1 := c.queryInt(n, "SELECT count(*) FROM pg_roles WHERE rolname = 'app_owner' AND rolcanlogin")
			rows, err2 := c.queryInt(n, "SELECT count(*) FROM app_setup")
			return err1 == nil && err2 == nil && roles == 1 && rows == 2
		})
		if local, err := c.queryInt(n, "SELECT count(*) FROM app_setup WHERE id = 1 AND commit_mode = 'local'"); err != nil || local != 1 {
			t.Errorf("%s: the script's session did not run with synchronous_commit local from PGOPTIONS (%v)", n.name, err)
		}
	}
	c.checkNoSecret(superPassword, replPassword, rewindPass)
}

// TestBootstrapFailure: a post_bootstrap exiting 3, or a custom bootstrap script exiting
// 1, fails the bootstrap as initdb's failure does: the agent exits, PostgreSQL is
// stopped, the data directory is moved to data.failed, the initialize key is removed,
// and another node then bootstraps the cluster.
func TestBootstrapFailure(t *testing.T) {
	tests := []struct {
		name, script, extra string
		logs                []string
	}{
		{
			name:   "post_bootstrap exits 3",
			script: "echo 'cannot set up the application' >&2\nexit 3\n",
			extra:  "  post_bootstrap: %s\n",
			logs:   []string{"running post_bootstrap", "cannot set up the application", "post_init script %s returned non-zero code 3"},
		},
		{
			name:   "custom bootstrap script exits 1",
			script: "for a; do case \"$a\" in --datadir=*) d=\"${a#--datadir=}\";; esac; done\nmkdir -p \"$d\"\necho 15 > \"$d/PG_VERSION\"\necho 'no backup found' >&2\nexit 1\n",
			extra:  "  method: restore\n  restore:\n    command: %s\n",
			logs:   []string{"Running custom bootstrap script: %s", "no backup found", "custom bootstrap failed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t, startEmbeddedEtcd(t), fast)
			failing := c.writeScript("failing.sh", tt.script)
			first, second := c.nodes[0], c.nodes[1]
			c.bootstrapExtra = func(n *node) string {
				if n == first {
					return fmt.Sprintf(tt.extra, failing)
				}
				return ""
			}
			c.writeConfigs(fast)
			c.start(first)
			pid := first.agentPid()
			c.eventually(first.name+"'s agent to exit", 90*time.Second, func() bool { return !alive(pid) })
			logs := append(tt.logs, "removing initialize key after failed attempt to bootstrap the cluster", "Failed to bootstrap cluster")
			for _, s := range logs {
				if s = strings.ReplaceAll(s, "%s", failing); !c.logContains(first, s) {
					t.Errorf("%s's log lacks %q", first.name, s)
				}
			}
			failed := filepath.Join(first.dir, "data.failed")
			if _, err := os.Stat(filepath.Join(failed, "PG_VERSION")); err != nil {
				t.Errorf("data.failed: %v", err)
			}
			if _, err := os.Stat(filepath.Join(first.dir, "data")); !os.IsNotExist(err) {
				t.Errorf("the data directory is still in place: %v", err)
			}
			if b, err := os.ReadFile(filepath.Join(failed, "postmaster.pid")); err == nil {
				if pm, _ := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0]); alive(pm) {
					t.Errorf("postgres %d still runs after the failed bootstrap", pm)
				}
			}
			if v, ok := c.initializeKey(); ok {
				t.Fatalf("the initialize key is still set (%q)", v)
			}
			c.start(second)
			c.eventually(second.name+" to bootstrap the cluster instead", 90*time.Second, func() bool { return c.primary() == second })
			if v, ok := c.initializeKey(); !ok || v == "" {
				t.Errorf("initialize key after the second bootstrap: %q %v", v, ok)
			}
		})
	}
}

// sourceCluster is a PostgreSQL cluster made outside Warden, archiving its WAL, with a
// base backup taken while it held rows.
type sourceCluster struct {
	data, backup, archive, sock string
	port                        int
	sysid                       string
}

const sourcePassword = "source-only-password"

// makeSource initdbs and starts a cluster (scram everywhere, its own superuser
// password), writes `before` rows, takes a base backup, writes `target` rows, creates
// the restore point e2e_target, writes `after` rows, and stops it so every segment is
// archived.
func (c *testCluster) makeSource(before, target, after int) sourceCluster {
	c.t.Helper()
	s := sourceCluster{data: filepath.Join(c.dir, "source"), backup: filepath.Join(c.dir, "backup"), archive: filepath.Join(c.dir, "archive"),
		sock: c.dir, port: freePort(c.t)}
	must(c.t, os.Mkdir(s.archive, 0o700))
	must(c.t, os.Chown(s.archive, int(c.owner.uid), int(c.owner.gid)))
	pwfile := filepath.Join(c.dir, "source.pw")
	must(c.t, os.WriteFile(pwfile, []byte(sourcePassword+"\n"), 0o600))
	must(c.t, os.Chown(pwfile, int(c.owner.uid), int(c.owner.gid)))
	c.asPostgres("initdb", "-D", s.data, "-U", "postgres", "--pwfile="+pwfile, "--auth=scram-sha-256", "--encoding=UTF8")
	opts := fmt.Sprintf("-c port=%d -c listen_addresses='' -c unix_socket_directories=%s -c archive_mode=on -c archive_command='cp %%p %s/%%f' -c shared_buffers=16MB",
		s.port, s.sock, s.archive)
	c.asPostgres("pg_ctl", "-D", s.data, "-w", "-t", "60", "-l", filepath.Join(c.dir, "source.log"), "-o", opts, "start")
	c.t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(s.data, "postmaster.pid")); err == nil {
			c.asPostgres("pg_ctl", "-D", s.data, "-m", "immediate", "stop")
		}
	})
	env := []string{"PGPASSWORD=" + sourcePassword, "PGHOST=" + s.sock, fmt.Sprintf("PGPORT=%d", s.port), "PGUSER=postgres", "PGDATABASE=postgres"}
	psql := func(sql string) string {
		return strings.TrimSpace(c.asPostgresEnv(env, "psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql))
	}
	psql("CREATE TABLE e2e_rows (id int PRIMARY KEY)")
	psql(fmt.Sprintf("INSERT INTO e2e_rows SELECT generate_series(1, %d)", before))
	c.asPostgresEnv(env, "pg_basebackup", "-D", s.backup, "-X", "stream", "--checkpoint=fast")
	psql(fmt.Sprintf("INSERT INTO e2e_rows SELECT generate_series(%d, %d)", before+1, before+target))
	psql("SELECT pg_create_restore_point('e2e_target')")
	psql(fmt.Sprintf("INSERT INTO e2e_rows SELECT generate_series(%d, %d)", before+target+1, before+target+after))
	psql("SELECT pg_switch_wal()")
	s.sysid = psql("SELECT system_identifier FROM pg_control_system()")
	// A fast shutdown archives every remaining segment before the postmaster exits.
	c.asPostgres("pg_ctl", "-D", s.data, "-w", "-t", "60", "-m", "fast", "stop")
	return s
}

// restoreScript writes the custom bootstrap command: it copies the source's base backup
// into --datadir, records its arguments in restore.args, then runs extra (shell lines
// with $datadir set).
func (c *testCluster) restoreScript(src sourceCluster, extra string) string {
	c.t.Helper()
	return c.writeScript("restore.sh", fmt.Sprintf(`set -e
for a in "$@"; do
  case "$a" in --datadir=*) datadir="${a#--datadir=}" ;; esac
done
echo "restoring %[1]s into $datadir"
echo "$@" > %[2]s
mkdir -p "$datadir"
cp -a %[1]s/. "$datadir"/
chmod 700 "$datadir"
%[3]s`, src.backup, filepath.Join(c.dir, "restore.args"), extra))
}

// bootstrapFromSource starts every node and returns the primary once both replicas
// stream, logging how long it took.
func (c *testCluster) bootstrapFromSource(what string) *node {
	c.t.Helper()
	began := time.Now()
	for _, n := range c.nodes {
		c.start(n)
	}
	p := c.waitPrimary(120 * time.Second)
	tPrimary := time.Since(began)
	for _, n := range c.others(p) {
		c.waitReplica(n, 120*time.Second)
	}
	c.t.Logf("measured: custom bootstrap (%s) until /primary answers: %.1fs, until both replicas stream: %.1fs",
		what, tPrimary.Seconds(), time.Since(began).Seconds())
	return p
}

// checkRestored: the cluster is the source restored to its restore point and promoted:
// the source's system identifier in the initialize key and on every member, exactly the
// rows up to the restore point (plus one written now) everywhere, a new timeline, Warden's
// superuser password (the source's refused), no recovery settings or temporary access
// left, the restored postgresql.conf kept as the base, no restart pending, no password
// in a log.
func (c *testCluster) checkRestored(p *node, src sourceCluster, rows int) {
	t := c.t
	t.Helper()
	if !c.logContains(p, "Running custom bootstrap script: ") || !c.logContains(p, "restoring "+src.backup) || !c.logContains(p, "initialized a new cluster") {
		t.Errorf("%s's log lacks the custom bootstrap lines", p.name)
	}
	if c.logContains(p, "initdb:") {
		t.Error("initdb ran")
	}
	if code := p.health("/primary"); code != 200 {
		t.Errorf("/primary on %s: %d", p.name, code)
	}
	if st := p.status(); st["pending_restart"] == true {
		t.Errorf("the new primary asks for a restart: %v", st["pending_restart_reason"])
	}
	if v, ok := c.initializeKey(); !ok || v != src.sysid {
		t.Errorf("initialize key %q, want the source's system identifier %s", v, src.sysid)
	}
	tl, err := c.queryInt(p, "SELECT timeline_id FROM pg_control_checkpoint()")
	if err != nil || tl < 2 {
		t.Errorf("timeline %d (%v): the archive recovery did not end in a promotion", tl, err)
	}
	must(t, c.exec(p, "INSERT INTO e2e_rows VALUES (-1)"))
	for _, n := range c.nodes {
		id, err := c.queryInt(n, "SELECT system_identifier FROM pg_control_system()")
		if err != nil || fmt.Sprint(id) != src.sysid {
			t.Errorf("%s: system identifier %d (%v), want %s", n.name, id, err, src.sysid)
		}
		c.eventually(n.name+" to have the rows up to the restore point", 30*time.Second, func() bool {
			count, err1 := c.queryInt(n, "SELECT count(*) FROM e2e_rows")
			maxID, err2 := c.queryInt(n, "SELECT max(id) FROM e2e_rows")
			return err1 == nil && err2 == nil && count == int64(rows+1) && maxID == int64(rows)
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if conn, err := pgxConnect(ctx, p, "postgres", sourcePassword); err == nil {
		conn.Close(ctx)
		t.Error("the source's superuser password still works")
	}
	data := filepath.Join(p.dir, "data")
	for _, f := range []string{"postgresql.conf", "postgresql.auto.conf"} {
		b, err := os.ReadFile(filepath.Join(data, f))
		must(t, err)
		for _, s := range []string{"restore_command", "recovery_target"} {
			if strings.Contains(string(b), s) {
				t.Errorf("%s still has %s after the bootstrap", f, s)
			}
		}
	}
	for _, f := range []string{"recovery.signal", "standby.signal"} {
		if _, err := os.Stat(filepath.Join(data, f)); err == nil {
			t.Errorf("%s left on the primary", f)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "postgresql.base.conf")); err != nil {
		t.Errorf("the restored postgresql.conf was not kept as postgresql.base.conf: %v", err)
	}
	hba, err := os.ReadFile(filepath.Join(data, "pg_hba.conf"))
	must(t, err)
	if strings.Contains(string(hba), "warden_bootstrap") || !strings.Contains(string(hba), "host replication replicator") {
		t.Errorf("pg_hba.conf after the bootstrap:\n%s", hba)
	}
	c.checkNoSecret(superPassword, replPassword, rewindPass)
}

// TestCustomBootstrapFromBackup: bootstrap.method runs a restore script (with --scope and
// --datadir appended, then the section's other keys: --test-argument=x) that copies a base backup of a cluster made outside Warden;
// recovery_conf makes it a point-in-time recovery from the WAL archive up to a named
// restore point, promoted at the end; the replicas clone from the result (checkRestored).
func TestCustomBootstrapFromBackup(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	const before, target, after = 1000, 500, 250
	src := c.makeSource(before, target, after)
	restore := c.restoreScript(src, "")
	c.bootstrapExtra = func(*node) string {
		return fmt.Sprintf(`  method: from_backup
  from_backup:
    command: %s --from=e2e
    test-argument: x
    recovery_conf:
      restore_command: cp %s/%%f %%p
      recovery_target_name: e2e_target
      recovery_target_action: promote
`, restore, src.archive)
	}
	c.writeConfigs(fast)
	p := c.bootstrapFromSource("restore + archive recovery to a restore point + promote")
	args := strings.Join(readLines(filepath.Join(c.dir, "restore.args")), "\n")
	if want := fmt.Sprintf("--from=e2e --scope=%s --datadir=%s --test-argument=x", c.scope, filepath.Join(p.dir, "data")); args != want {
		t.Errorf("restore script arguments %q, want %q", args, want)
	}
	c.checkRestored(p, src, before+target)
}

// TestCustomBootstrapKeepsScriptRecovery: a pgBackRest-style restore (no_params, the
// recovery settings written by the script into postgresql.auto.conf with recovery.signal)
// with keep_existing_recovery_conf: the script's recovery runs to its target, the
// settings are removed afterwards, and post_bootstrap runs after the custom bootstrap,
// connecting with the superuser's new password (checkRestored).
func TestCustomBootstrapKeepsScriptRecovery(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	const before, target, after = 700, 300, 100
	src := c.makeSource(before, target, after)
	restore := c.restoreScript(src, fmt.Sprintf(`cat >> "$datadir/postgresql.auto.conf" <<'END'
restore_command = 'cp %s/%%f %%p'
recovery_target_name = 'e2e_target'
recovery_target_action = 'promote'
END
touch "$datadir/recovery.signal"
`, src.archive))
	seen := filepath.Join(c.dir, "post_bootstrap.seen")
	post := c.writeScript("post_bootstrap.sh", fmt.Sprintf("set -e\n%s/psql \"$1\" -X -A -t -v ON_ERROR_STOP=1 -c 'SELECT count(*) FROM e2e_rows' > %s\n", pgBin, seen))
	c.bootstrapExtra = func(n *node) string {
		return fmt.Sprintf(`  method: pgbackrest_like
  pgbackrest_like:
    command: %s --datadir=%s
    no_params: true
    keep_existing_recovery_conf: true
  post_bootstrap: %s
`, restore, filepath.Join(n.dir, "data"), post)
	}
	c.writeConfigs(fast)
	p := c.bootstrapFromSource("the script's own recovery settings kept, then post_bootstrap")
	if args := strings.Join(readLines(filepath.Join(c.dir, "restore.args")), "\n"); args != "--datadir="+filepath.Join(p.dir, "data") {
		t.Errorf("restore script arguments %q: no_params must add nothing", args)
	}
	if got := strings.Join(readLines(seen), ""); got != fmt.Sprint(before+target) {
		t.Errorf("post_bootstrap counted %q rows, want %d: it must run after the end of recovery", got, before+target)
	}
	if !c.logContains(p, "keeping the recovery settings the custom bootstrap script left") {
		t.Error("the log does not say the script's recovery settings were kept")
	}
	c.checkRestored(p, src, before+target)
}

func pgxConnect(ctx context.Context, n *node, user, password string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=%s dbname=postgres connect_timeout=2", n.host, n.pgPort, user))
	if err != nil {
		return nil, err
	}
	cfg.Password = password
	return pgx.ConnectConfig(ctx, cfg)
}
