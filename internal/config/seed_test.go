package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warden-ha/warden/internal/postgres/pgconf"
)

var testEnv = []string{"HOME=/home/warden"}

func seed(t testing.TB, name string) string {
	t.Helper()
	return filepath.Join("testdata", "seed", name)
}

// wantWarning asserts one warning has this key, line and message fragment.
func wantWarning(t *testing.T, warns []Warning, key string, line int, fragment string) {
	t.Helper()
	for _, w := range warns {
		if w.Key == key && (line == 0 || w.Line == line) && strings.Contains(w.Message, fragment) {
			return
		}
	}
	t.Errorf("no warning %s (line %d) containing %q; got:\n%s", key, line, fragment, listWarnings(warns))
}

func listWarnings(warns []Warning) string {
	var b strings.Builder
	for _, w := range warns {
		b.WriteString("  " + w.String() + "\n")
	}
	return b.String()
}

// pg17Check checks parameter names as validate-config does with PostgreSQL 17 binaries.
func pg17Check(t *testing.T) ParameterCheck {
	t.Helper()
	out, err := os.ReadFile("../postgres/pgconf/testdata/describe-config-17.txt")
	if err != nil {
		t.Fatal(err)
	}
	cat, err := pgconf.ParseDescribeConfig(string(out), 17)
	if err != nil {
		t.Fatal(err)
	}
	return cat.Problem
}

func mustLoad(t *testing.T, path string, env ...string) (*Config, []Warning) {
	t.Helper()
	cfg, warns, err := LoadChecked(path, append(slices.Clone(testEnv), env...), pg17Check(t))
	if err != nil {
		t.Fatalf("Load(%s): %v\nwarnings:\n%s", path, err, listWarnings(warns))
	}
	return cfg, warns
}

func TestSeedBlogPatroni01(t *testing.T) {
	cfg, warns := mustLoad(t, seed(t, "blog-patroni01.yml"))
	if len(warns) != 1 {
		t.Fatalf("want exactly 1 warning, got:\n%s", listWarnings(warns))
	}
	if got := warns[0].String(); got != "line 30: bootstrap.dcs.postgresql.parameters.wal_keep_segment: PostgreSQL 17 has no parameter wal_keep_segment (did you mean wal_keep_size?); the agent leaves it out of postgresql.conf" {
		t.Errorf("String() = %q", got)
	}
	if _, ok := cfg.Bootstrap.Dynamic.Parameters["wal_keep_segment"]; !ok {
		t.Error("loading removed wal_keep_segment; only the agent, knowing its binaries, leaves it out")
	}
	if cfg.Bootstrap.DCS["postgresql"].(map[string]any)["parameters"].(map[string]any)["wal_keep_segment"] != 8 {
		t.Error("Bootstrap.DCS must stay as written")
	}
	if !slices.Equal(cfg.Bootstrap.InitDB, []string{"--encoding=UTF8", "--data-checksums"}) {
		t.Errorf("InitDB = %q", cfg.Bootstrap.InitDB)
	}
	pg := cfg.PostgreSQL
	if pg.ListenAddresses != "*" || pg.Port != 5433 || pg.ConnectHost != "10.234.76.28" || pg.ConnectPort != 5433 {
		t.Errorf("listen/connect = %q %d %q %d", pg.ListenAddresses, pg.Port, pg.ConnectHost, pg.ConnectPort)
	}
	if pg.PGPass != "/tmp/pgpass0" || pg.Rewind.Username != "rewind_user" || pg.Rewind.Password.Reveal() != "capdata" {
		t.Errorf("pgpass/rewind = %q %q", pg.PGPass, pg.Rewind.Username)
	}
	if cfg.Log.Dir != "/var/log/patroni/my-pg-cluster" || cfg.Etcd.Section != "etcd" || len(cfg.Etcd.Hosts) != 3 {
		t.Errorf("log/etcd = %+v %+v", cfg.Log, cfg.Etcd)
	}
	if cfg.Tags["nofailover"] != false || cfg.Bootstrap.Users["admin"].Password.Reveal() != "admin" {
		t.Errorf("tags/users = %v %v", cfg.Tags, cfg.Bootstrap.Users)
	}
	if !cfg.Bootstrap.Dynamic.UsePgRewind || cfg.Bootstrap.Dynamic.TTL != 30*time.Second {
		t.Errorf("dynamic = %+v", cfg.Bootstrap.Dynamic)
	}
}

func TestSeedCourseNode1(t *testing.T) {
	cfg, warns := mustLoad(t, seed(t, "course-node-1.yml"))
	if len(warns) != 0 {
		t.Errorf("want no warnings, got:\n%s", listWarnings(warns))
	}
	if cfg.Namespace != "/db/" {
		t.Errorf("Namespace = %q", cfg.Namespace)
	}
	if want := []string{"10.131.0.7:2379", "10.131.0.8:2379", "10.131.0.23:2379"}; !slices.Equal(cfg.Etcd.Hosts, want) {
		t.Errorf("Hosts = %q", cfg.Etcd.Hosts)
	}
	if cfg.Bootstrap.Dynamic.Parameters["synchronous_standby_names"] != "*" {
		t.Errorf("parameters = %v", cfg.Bootstrap.Dynamic.Parameters)
	}
	if cfg.PostgreSQL.DataDir != "/mnt/patroni" || cfg.PostgreSQL.PGPass != "/home/warden/pgpass" {
		t.Errorf("data_dir/pgpass = %q %q", cfg.PostgreSQL.DataDir, cfg.PostgreSQL.PGPass)
	}
	if cfg.PostgreSQL.Rewind.Username != "postgres" {
		t.Errorf("rewind must default to the superuser, got %q", cfg.PostgreSQL.Rewind.Username)
	}
}

func TestSeedTalkPg1(t *testing.T) {
	cfg, warns := mustLoad(t, seed(t, "talk-pg1.yml"))
	wantWarning(t, warns, "dcs", 8, "belong under bootstrap")
	wantWarning(t, warns, "initdb", 15, "belongs under bootstrap")
	wantWarning(t, warns, "pg_hba", 18, "belongs under bootstrap")
	if len(warns) != 3 {
		t.Errorf("want 3 warnings, got:\n%s", listWarnings(warns))
	}
	if cfg.Bootstrap.Dynamic.UsePgRewind || len(cfg.Bootstrap.InitDB) != 0 {
		t.Error("top-level dcs/initdb must not be applied")
	}
	wd, _ := os.Getwd()
	if want := filepath.Join(wd, "data/postgresql0"); cfg.PostgreSQL.DataDir != want || cfg.PostgreSQL.ConfigDir != want {
		t.Errorf("DataDir = %q, want %q", cfg.PostgreSQL.DataDir, want)
	}
	if cfg.Etcd.Hosts[0] != "127.0.0.1:2379" {
		t.Errorf("Hosts = %q", cfg.Etcd.Hosts)
	}
}

func TestSeedWorkshopPg1(t *testing.T) {
	cfg, warns := mustLoad(t, seed(t, "workshop-pg-1.yml"))
	wantWarning(t, warns, "bootstrap.postgresql", 17, "bootstrap.dcs.postgresql")
	wantWarning(t, warns, "bootstrap.postgresql.parameters.wal_keep_segment", 23, "did you mean wal_keep_size?")
	wantWarning(t, warns, "bootstrap.postgresql.parameters.max_relication_slots", 25, "did you mean max_replication_slots?")
	wantWarning(t, warns, "initdb", 28, "belongs under bootstrap")
	wantWarning(t, warns, "pg_hba", 30, "belongs under bootstrap")
	wantWarning(t, warns, "users", 34, "belongs under bootstrap")
	if len(warns) != 6 {
		t.Errorf("want 6 warnings, got:\n%s", listWarnings(warns))
	}
	if cfg.Bootstrap.Users != nil || cfg.Bootstrap.PgHBA != nil || cfg.Bootstrap.InitDB != nil {
		t.Error("top-level users/pg_hba/initdb must not be applied")
	}
	if cfg.PostgreSQL.Superuser.Username != "dba" || cfg.PostgreSQL.Port != 5434 {
		t.Errorf("superuser/port = %q %d", cfg.PostgreSQL.Superuser.Username, cfg.PostgreSQL.Port)
	}
}

func TestSeedWorkshopPg3(t *testing.T) {
	cfg, warns := mustLoad(t, seed(t, "workshop-pg-3.yml"))
	wantWarning(t, warns, "bootstrap.initdb", 28, `got the string "UTF8"`)
	wantWarning(t, warns, "bootstrap.users.repl.options[0]", 43, "read as the option replication")
	wantWarning(t, warns, "bootstrap.postgresql.parameters.wal_keep_segment", 23, "leaves it out of postgresql.conf")
	wantWarning(t, warns, "bootstrap.postgresql.parameters.max_relication_slots", 25, "leaves it out of postgresql.conf")
	wantWarning(t, warns, "postgresql.superuser", 54, "postgresql.authentication")
	if len(warns) != 6 {
		t.Errorf("want 6 warnings, got:\n%s", listWarnings(warns))
	}
	if !slices.Equal(cfg.Bootstrap.Users["repl"].Options, []string{"replication"}) {
		t.Errorf("repl options = %q", cfg.Bootstrap.Users["repl"].Options)
	}
	if len(cfg.Bootstrap.PgHBA) != 2 || cfg.Bootstrap.InitDB != nil {
		t.Errorf("pg_hba/initdb = %q %q", cfg.Bootstrap.PgHBA, cfg.Bootstrap.InitDB)
	}
	if cfg.PostgreSQL.Superuser.Username != "postgres" || cfg.PostgreSQL.Superuser.Password != "" {
		t.Errorf("mis-indented superuser must not be applied: %q", cfg.PostgreSQL.Superuser.Username)
	}
}

// writeDir builds a configuration directory from named contents.
func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readSeed(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(seed(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const baseConfig = `scope: demo
name: node1
restapi:
  listen: 127.0.0.1:8008
  connect_address: 127.0.0.1:8008
etcd3:
  hosts: 127.0.0.1:2379
postgresql:
  listen: 127.0.0.1:5432
  connect_address: 127.0.0.1:5432
  data_dir: /tmp/warden-test/data
`

func TestSeedTalkCallbacksFragment(t *testing.T) {
	dir := writeDir(t, map[string]string{"00-base.yml": baseConfig, "50-callbacks.yml": readSeed(t, "talk-callbacks.yml")})
	cfg, warns := mustLoad(t, dir)
	if len(warns) != 0 {
		t.Errorf("warnings:\n%s", listWarnings(warns))
	}
	if got := cfg.PostgreSQL.Callbacks["on_role_change"]; got != "/var/lib/pgsql/patroni/patroni_callback.sh" {
		t.Errorf("on_role_change = %q", got)
	}
	if cfg.PostgreSQL.DataDir != "/var/lib/pgsql/pg1/data" || cfg.PostgreSQL.ListenAddresses != "192.168.36.131" || cfg.PostgreSQL.BinDir != "/usr/pgsql-13/bin" {
		t.Errorf("later file must win: %+v", cfg.PostgreSQL)
	}
}

func TestSeedWorkshopEtcdHTTPSFragment(t *testing.T) {
	base := strings.Replace(baseConfig, "etcd3:\n  hosts: 127.0.0.1:2379\n", "", 1)
	dir := writeDir(t, map[string]string{"base.yaml": base, "etcd.yml": readSeed(t, "workshop-etcd-https.yml")})
	cfg, warns := mustLoad(t, dir)
	if len(warns) != 0 {
		t.Errorf("warnings:\n%s", listWarnings(warns))
	}
	e := cfg.Etcd
	if e.Section != "etcd" || e.Protocol != "https" || e.CACert != "/etc/patroni/etcd-ca.crt" || e.Cert != "/etc/patroni/server.crt" || e.Key != "/etc/patroni/server.key" {
		t.Errorf("etcd = %+v", e)
	}
	if want := []string{"https://etcd1:2379", "https://etcd2:2379", "https://etcd3:2379"}; !slices.Equal(e.Endpoints(), want) {
		t.Errorf("Endpoints = %q", e.Endpoints())
	}
}

func TestSeedMigrationRepmgrFragment(t *testing.T) {
	pgOnly := "postgresql:\n  listen: 127.0.0.1:5432\n  connect_address: 127.0.0.1:5432\n  data_dir: /tmp/d\n"
	dir := writeDir(t, map[string]string{"10-migration.yml": readSeed(t, "migration-repmgr.yml"), "20-postgresql.yml": pgOnly})
	cfg, warns := mustLoad(t, dir)
	if len(warns) != 0 {
		t.Errorf("warnings:\n%s", listWarnings(warns))
	}
	if cfg.Namespace != "/service/" || cfg.Log.Dir != "/var/log/postgresql/" || cfg.Etcd.Username != "patroni" || cfg.Etcd.Password.Reveal() != "patroni" {
		t.Errorf("cfg = %+v", cfg)
	}
	if len(cfg.Etcd.Hosts) != 3 || cfg.Etcd.Protocol != "http" {
		t.Errorf("etcd = %+v", cfg.Etcd)
	}
}

func TestSeedFragmentAloneFails(t *testing.T) {
	_, _, err := Load(seed(t, "talk-callbacks.yml"), testEnv)
	if err == nil || !strings.Contains(err.Error(), "name: required key is missing") {
		t.Errorf("err = %v", err)
	}
}

func TestSeedTalkSyncDynamic(t *testing.T) {
	d := newDiags(nil)
	raw, err := parseYAML([]byte(readSeed(t, "talk-sync.yml")), "", d)
	if err != nil {
		t.Fatal(err)
	}
	dyn, warns := ParseDynamic(raw)
	if len(warns) != 0 {
		t.Errorf("warnings:\n%s", listWarnings(warns))
	}
	if !dyn.SynchronousMode || dyn.SynchronousNodeCount != 2 || dyn.TTL != 30*time.Second || !dyn.UseSlots {
		t.Errorf("dyn = %+v", dyn)
	}
	if dyn.TimingNote != "" {
		t.Error(dyn.TimingNote)
	}
}

// TestSeedNoFileLoadFails checks the remaining whole files load cleanly.
func TestSeedAllFilesLoadOrFailCleanly(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "seed", "*.yml"))
	if len(files) < 9 {
		t.Fatalf("seed files missing: %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, _, err := Load(f, testEnv)
			if (cfg == nil) == (err == nil) {
				t.Errorf("want exactly one of config and error, got %v, %v", cfg != nil, err)
			}
		})
	}
}
