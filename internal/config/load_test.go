package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "warden.yml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		key  string
		line int
		msg  string
	}{
		{"bad yaml", baseConfig + "tags: 1\n  x: 2\n", "", 13, "invalid YAML: mapping values are not allowed"},
		{"restapi not a mapping", strings.Replace(baseConfig, "restapi:\n  listen: 127.0.0.1:8008\n  connect_address: 127.0.0.1:8008\n", "restapi: 5\n", 1), "restapi", 3, "expected a mapping"},
		{"parameters a list", baseConfig + "  parameters: [a]\n", "postgresql.parameters", 12, "expected a mapping"},
		{"missing name", strings.Replace(baseConfig, "name: node1\n", "", 1), "name", 0, "required key is missing"},
		{"missing scope", strings.Replace(baseConfig, "scope: demo\n", "", 1), "scope", 0, "required key is missing"},
		{"missing data_dir", strings.Replace(baseConfig, "  data_dir: /tmp/warden-test/data\n", "", 1), "postgresql.data_dir", 8, "required key is missing"},
		{"missing pg listen", strings.Replace(baseConfig, "  listen: 127.0.0.1:5432\n", "", 1), "postgresql.listen", 8, "required key is missing"},
		{"missing restapi listen", strings.Replace(baseConfig, "  listen: 127.0.0.1:8008\n", "", 1), "restapi.listen", 3, "required key is missing"},
		{"no dcs", strings.Replace(baseConfig, "etcd3:\n  hosts: 127.0.0.1:2379\n", "", 1), "etcd3", 0, "no DCS section"},
		{"consul", baseConfig + "consul:\n  host: 127.0.0.1:8500\n", "consul", 12, "Warden supports etcd only"},
		{"kubernetes", baseConfig + "kubernetes: {}\n", "kubernetes", 12, "Warden supports etcd only"},
		{"etcd and etcd3", baseConfig + "etcd:\n  host: 127.0.0.1:2379\n", "etcd3", 6, "both etcd and etcd3"},
		{"bad etcd protocol", strings.Replace(baseConfig, "  hosts: 127.0.0.1:2379\n", "  hosts: 127.0.0.1:2379\n  protocol: ftp\n", 1), "etcd3.protocol", 8, "expected http or https"},
		{"etcd without hosts", strings.Replace(baseConfig, "  hosts: 127.0.0.1:2379\n", "  protocol: http\n", 1), "etcd3", 6, "no etcd endpoint"},
		{"bad listen port", strings.Replace(baseConfig, "  listen: 127.0.0.1:5432\n", "  listen: 127.0.0.1:pg\n", 1), "postgresql.listen", 9, "expected addresses:port"},
		{"bad bool", baseConfig + "  use_unix_socket: maybe\n", "postgresql.use_unix_socket", 12, "expected a boolean"},
		{"not a mapping", "- a\n- b\n", "", 1, "must be a YAML mapping"},
		{"pre_promote unclosed quote", baseConfig + "  pre_promote: \"/bin/fence 'x\"\n", "postgresql.pre_promote", 12, "no closing quotation"},
		{"before_stop a list", baseConfig + "  before_stop: [a]\n", "postgresql.before_stop", 12, "expected a string"},
		{"replica method command unclosed quote", baseConfig + "  create_replica_methods: [wal_g]\n  wal_g:\n    command: \"wal-g 'x\"\n", "postgresql.wal_g.command", 14, "no closing quotation"},
		{"replica method command a mapping", baseConfig + "  create_replica_methods: [wal_g]\n  wal_g:\n    command: {a: 1}\n", "postgresql.wal_g.command", 14, "expected a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load(writeFile(t, tt.yaml), testEnv)
			if err == nil {
				t.Fatal("want an error")
			}
			var found bool
			for _, e := range flatten(err) {
				var ce *Error
				if errors.As(e, &ce) && ce.Key == tt.key && ce.Line == tt.line && strings.Contains(ce.Message, tt.msg) {
					found = true
				}
			}
			if !found {
				t.Errorf("want error key=%q line=%d containing %q, got:\n%v", tt.key, tt.line, tt.msg, err)
			}
		})
	}
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestLoadShortTimingsAccepted(t *testing.T) {
	cfg, warns := mustLoad(t, writeFile(t, baseConfig+"bootstrap:\n  dcs:\n    ttl: 5\n    loop_wait: 1\n    retry_timeout: 2\n"))
	d := cfg.Bootstrap.Dynamic
	if d.TTL != 5*time.Second || d.LoopWait != time.Second || d.RetryTimeout != 2*time.Second || len(warns) != 0 {
		t.Errorf("dynamic = %+v, warnings:\n%s", d, listWarnings(warns))
	}
}

func TestLoadWarnings(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		key  string
		msg  string
	}{
		{"unknown top-level key", baseConfig + "foo: 1\n", "foo", "unknown key, ignored"},
		{"typo in section", baseConfig + "  pg_ctl_timout: 5\n", "postgresql.pg_ctl_timout", "did you mean pg_ctl_timeout?"},
		{"command-line parameter locally", baseConfig + "  parameters:\n    max_connections: 50\n", "postgresql.parameters.max_connections", "only accepted from the dynamic configuration"},
		{"dcs ttl not a number", baseConfig + "bootstrap:\n  dcs:\n    ttl: abc\n", "bootstrap.dcs.ttl", "expected an integer"},
		{"use_slots locally", baseConfig + "  use_slots: false\n", "postgresql.use_slots", "cluster-wide"},
		{"unsupported log key", baseConfig + "log:\n  loggers: {patroni.ha: DEBUG}\n", "log.loggers", "not supported by Warden"},
		{"initdb forbidden option", baseConfig + "bootstrap:\n  initdb:\n  - pgdata\n", "bootstrap.initdb[0]", "set by Warden itself"},
		{"unknown callback", baseConfig + "  callbacks:\n    on_promote: /bin/true\n", "postgresql.callbacks.on_promote", "unknown key"},
		{"watchdog mode", baseConfig + "watchdog:\n  mode: sometimes\n", "watchdog.mode", "using off"},
		{"watchdog driver", baseConfig + "watchdog:\n  driver: ipmi\n", "watchdog.driver", "no watchdog device is used"},
		{"duplicate key", baseConfig + "scope: again\n", "scope", "duplicate key"},
		{"legacy superuser layout", strings.Replace(baseConfig, "  data_dir:", "  superuser:\n    username: admin\n  data_dir:", 1), "postgresql.superuser", "old layout"},
		{"timings adjusted", baseConfig + "bootstrap:\n  dcs:\n    ttl: 20\n    loop_wait: 2\n    retry_timeout: 10\n", "bootstrap.dcs.ttl", "Adjusting loop_wait from 2 to 1 and retry_timeout from 10 to 9 (in effect: ttl=20 loop_wait=1 retry_timeout=9)"},
		{"timings without ttl", baseConfig + "bootstrap:\n  dcs:\n    loop_wait: 20\n", "bootstrap.dcs.ttl", "where ttl=30 and retry_timeout=10. Adjusting loop_wait from 20 to 10"},
		{"dynamic key at bootstrap level", baseConfig + "bootstrap:\n  ttl: 20\n", "bootstrap.ttl", "belongs under bootstrap.dcs"},
		{"server_tokens value", strings.Replace(baseConfig, "restapi:\n", "restapi:\n  server_tokens: Full\n", 1), "restapi.server_tokens", "expected Minimal, ProductOnly or Original"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, warns := mustLoad(t, writeFile(t, tt.yaml))
			wantWarning(t, warns, tt.key, 0, tt.msg)
			for _, w := range warns {
				if w.Key == tt.key && w.Line == 0 {
					t.Errorf("warning without a line: %s", w)
				}
			}
		})
	}
}

func TestLoadValues(t *testing.T) {
	cfg, _ := mustLoad(t, writeFile(t, baseConfig+`  parameters:
    shared_buffers: 128MB
    auto_explain.log_min_duration: 10
  basebackup:
  - max-rate: 100M
  - checkpoint: fast
  - verbose
  pg_ctl_timeout: 15
  use_pg_rewind: true
  create_replica_methods: [wal_g, basebackup]
  wal_g:
    command: wal-g backup-fetch
    no_leader: true
  pre_promote: /usr/local/bin/fence --now
  before_stop: "/usr/local/bin/drain 'a b'"
namespace: db
log: {level: warn, type: json}
watchdog: {mode: false, safety_margin: -1, driver: testing}
bootstrap:
  initdb: {encoding: UTF8, locale: C}
  post_init: /bin/true
`))
	pg := cfg.PostgreSQL
	if !slices.Equal(pg.Basebackup, []string{"--max-rate=100M", "--checkpoint=fast", "--verbose"}) {
		t.Errorf("Basebackup = %q", pg.Basebackup)
	}
	if pg.Parameters["shared_buffers"] != "128MB" || pg.Parameters["auto_explain.log_min_duration"] != 10 {
		t.Errorf("Parameters = %v", pg.Parameters)
	}
	if pg.PgCtlTimeout != 15*time.Second || pg.UsePgRewind == nil || !*pg.UsePgRewind {
		t.Errorf("pg_ctl_timeout/use_pg_rewind = %v %v", pg.PgCtlTimeout, pg.UsePgRewind)
	}
	if pg.PrePromote != "/usr/local/bin/fence --now" || pg.BeforeStop != "/usr/local/bin/drain 'a b'" {
		t.Errorf("pre_promote/before_stop = %q %q", pg.PrePromote, pg.BeforeStop)
	}
	if pg.ReplicaMethods["wal_g"]["command"] != "wal-g backup-fetch" || pg.ReplicaMethods["wal_g"]["no_leader"] != true {
		t.Errorf("ReplicaMethods = %v", pg.ReplicaMethods)
	}
	if cfg.Namespace != "/db/" || cfg.Log.Level != "WARNING" || cfg.Log.Format != "json" {
		t.Errorf("namespace/log = %q %+v", cfg.Namespace, cfg.Log)
	}
	if cfg.Watchdog.Mode != "off" || cfg.Watchdog.SafetyMargin != -time.Second || cfg.Watchdog.Device != "/dev/watchdog" || cfg.Watchdog.Driver != "testing" {
		t.Errorf("watchdog = %+v", cfg.Watchdog)
	}
	if !slices.Equal(cfg.Bootstrap.InitDB, []string{"--encoding=UTF8", "--locale=C"}) || cfg.Bootstrap.PostBootstrap != "/bin/true" {
		t.Errorf("bootstrap = %+v", cfg.Bootstrap)
	}
	if cfg.Ctl.CACert != "" || cfg.PostgreSQL.Superuser.Username != "postgres" {
		t.Errorf("ctl/superuser = %+v", cfg.Ctl)
	}
}

func TestNamespace(t *testing.T) {
	for in, want := range map[string]string{"": "/service/", "service": "/service/", "/db": "/db/", "//a//b/": "/a/b/", "/": "/"} {
		if got := normaliseNamespace(in); got != want {
			t.Errorf("normaliseNamespace(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestListen(t *testing.T) {
	tests := []struct {
		listen, addrs string
		port          int
	}{
		{"*:5433", "*", 5433},
		{"127.0.0.1,10.0.0.1:5432", "127.0.0.1,10.0.0.1", 5432},
		{"0.0.0.0", "0.0.0.0", 5432},
		{"[::1]:6000", "::1", 6000},
	}
	for _, tt := range tests {
		t.Run(tt.listen, func(t *testing.T) {
			y := strings.Replace(baseConfig, "  listen: 127.0.0.1:5432\n", "  listen: '"+tt.listen+"'\n", 1)
			cfg, _ := mustLoad(t, writeFile(t, y))
			if cfg.PostgreSQL.ListenAddresses != tt.addrs || cfg.PostgreSQL.Port != tt.port {
				t.Errorf("got %q %d", cfg.PostgreSQL.ListenAddresses, cfg.PostgreSQL.Port)
			}
		})
	}
}

func TestEtcdForms(t *testing.T) {
	tests := []struct {
		name, section string
		hosts         []string
		protocol      string
		user, url     string
	}{
		{"host default port", "etcd:\n  host: 10.0.0.1\n", []string{"10.0.0.1:2379"}, "http", "", ""},
		{"hosts list with port key", "etcd3:\n  port: 2000\n  hosts: [a, 'b:3']\n", []string{"a:2000", "b:3"}, "http", "", ""},
		{"hosts as urls", "etcd3:\n  hosts: https://a:1,https://b:2\n", []string{"a:1", "b:2"}, "https", "", ""},
		{"url with credentials", "etcd3:\n  url: https://u:p@e1:4001\n", []string{"e1:4001"}, "https", "u", "https://e1:4001"},
		{"proxy", "etcd3:\n  proxy: http://e1\n", []string{"e1:2379"}, "http", "", "http://e1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := strings.Replace(baseConfig, "etcd3:\n  hosts: 127.0.0.1:2379\n", tt.section, 1)
			cfg, warns := mustLoad(t, writeFile(t, y))
			e := cfg.Etcd
			if !slices.Equal(e.Hosts, tt.hosts) || e.Protocol != tt.protocol || e.Username != tt.user || e.URL != tt.url {
				t.Errorf("etcd = %+v, warnings:\n%s", e, listWarnings(warns))
			}
		})
	}
}

func TestEnvironment(t *testing.T) {
	path := writeFile(t, baseConfig+"restapi:\n  authentication: {username: a, password: b}\n")
	cfg, warns := mustLoad(t, path,
		"PATRONI_NAME=envnode",
		"PATRONI_NAMESPACE=/env",
		"PATRONI_RESTAPI_LISTEN=127.0.0.2:9008",
		"PATRONI_RESTAPI_ALLOWLIST=10.0.0.1,10.0.0.0/8",
		"PATRONI_RESTAPI_HTTP_EXTRA_HEADERS=X-A: 1, X-B: two",
		"PATRONI_RESTAPI_PASSWORD=envpass",
		"PATRONI_POSTGRESQL_DATA_DIR=/srv/pg",
		"PATRONI_SUPERUSER_USERNAME=su",
		"PATRONI_SUPERUSER_PASSWORD=supw",
		"PATRONI_REPLICATION_SSLMODE=require",
		"PATRONI_ETCD3_HOSTS='h1:2379','h2:2379'",
		"PATRONI_ETCD3_USERNAME=eu",
		"PATRONI_ETCD3_PASSWORD=ep",
		"PATRONI_LOG_LEVEL=debug",
		"PATRONI_CTL_INSECURE=yes",
		"PATRONI_EMPTY_IGNORED=",
		"PATRONI_BOGUS=1",
	)
	if cfg.Name != "envnode" || cfg.Namespace != "/env/" || cfg.RestAPI.Listen != "127.0.0.2:9008" {
		t.Errorf("top/restapi = %q %q %q", cfg.Name, cfg.Namespace, cfg.RestAPI.Listen)
	}
	if !slices.Equal(cfg.RestAPI.Allowlist, []string{"10.0.0.1", "10.0.0.0/8"}) || cfg.RestAPI.HTTPExtraHeaders["X-B"] != "two" {
		t.Errorf("allowlist/headers = %q %v", cfg.RestAPI.Allowlist, cfg.RestAPI.HTTPExtraHeaders)
	}
	if cfg.RestAPI.Username != "a" || cfg.RestAPI.Password.Reveal() != "envpass" {
		t.Errorf("restapi auth = %q", cfg.RestAPI.Username)
	}
	if cfg.PostgreSQL.DataDir != "/srv/pg" || cfg.PostgreSQL.Superuser.Username != "su" || cfg.PostgreSQL.Superuser.Password.Reveal() != "supw" || cfg.PostgreSQL.Replication.SSLMode != "require" {
		t.Errorf("postgresql = %+v", cfg.PostgreSQL)
	}
	if !slices.Equal(cfg.Etcd.Hosts, []string{"h1:2379", "h2:2379"}) || cfg.Etcd.Username != "eu" || cfg.Etcd.Password.Reveal() != "ep" {
		t.Errorf("etcd = %+v", cfg.Etcd)
	}
	if cfg.Log.Level != "DEBUG" || !cfg.Ctl.Insecure || cfg.Ctl.Username != "a" {
		t.Errorf("log/ctl = %+v %+v", cfg.Log, cfg.Ctl)
	}
	wantWarning(t, warns, "PATRONI_BOGUS", 0, "unknown environment variable")
	for _, w := range warns {
		if w.Key == "PATRONI_EMPTY_IGNORED" {
			t.Errorf("empty variables are ignored silently, as in Patroni: %s", w)
		}
	}
}

func TestEnvironmentEtcdCredentialsNeedAnotherVar(t *testing.T) {
	cfg, warns := mustLoad(t, writeFile(t, baseConfig), "PATRONI_ETCD3_USERNAME=eu", "PATRONI_ETCD3_PASSWORD=ep")
	if cfg.Etcd.Username != "" || cfg.Etcd.Password != "" {
		t.Errorf("etcd credentials applied without another PATRONI_ETCD3_* var: %+v", cfg.Etcd)
	}
	wantWarning(t, warns, "PATRONI_ETCD3_PASSWORD", 0, "another PATRONI_ETCD3_")
}

func TestEnvironmentOnly(t *testing.T) {
	env := []string{"PATRONI_NAME=n", "PATRONI_SCOPE=s", "PATRONI_RESTAPI_LISTEN=127.0.0.1:8008",
		"PATRONI_POSTGRESQL_LISTEN=127.0.0.1:5432", "PATRONI_POSTGRESQL_DATA_DIR=/d",
		"PATRONI_POSTGRESQL_CONNECT_ADDRESS=127.0.0.1:5432", "PATRONI_RESTAPI_CONNECT_ADDRESS=127.0.0.1:8008",
		"PATRONI_ETCD_HOST=127.0.0.1:2379", "PATRONI_ETCD_PORT=2379"}
	cfg, warns := mustLoad(t, "", env...)
	if cfg.Name != "n" || cfg.Etcd.Section != "etcd" || cfg.Etcd.Hosts[0] != "127.0.0.1:2379" || len(warns) != 0 {
		t.Errorf("cfg = %+v\n%s", cfg, listWarnings(warns))
	}
}

func TestEnvironmentConfiguration(t *testing.T) {
	// PATRONI_CONFIGURATION replaces every other variable.
	cfg, _ := mustLoad(t, "", "PATRONI_CONFIGURATION="+baseConfig, "PATRONI_NAME=ignored")
	if cfg.Name != "node1" {
		t.Errorf("Name = %q", cfg.Name)
	}
	_, _, err := Load("", []string{"PATRONI_CONFIGURATION=scope: [\n"})
	var ce *Error
	if !errors.As(err, &ce) || ce.Source != "PATRONI_CONFIGURATION" {
		t.Errorf("err = %v", err)
	}
}

func TestEnvironmentBadValuesDoNotLeak(t *testing.T) {
	_, warns := mustLoad(t, writeFile(t, baseConfig), "PATRONI_CTL_INSECURE=hunter2", "PATRONI_ALICE_PASSWORD=hunter2")
	wantWarning(t, warns, "ctl.insecure", 0, "not a boolean")
	wantWarning(t, warns, "PATRONI_ALICE_PASSWORD", 0, "not supported")
	for _, w := range warns {
		if strings.Contains(w.String(), "hunter2") {
			t.Errorf("value leaked: %s", w)
		}
	}
}

const secretValue = "s3cr3t-value"

func secretConfig(t *testing.T) *Config {
	y := strings.ReplaceAll(`scope: demo
name: node1
restapi:
  listen: 127.0.0.1:8008
  connect_address: 127.0.0.1:8008
  authentication: {username: api, password: PW}
  keyfile_password: PW
ctl:
  authentication: {username: ctl, password: PW}
etcd3:
  url: http://root:PW@127.0.0.1:2379
postgresql:
  listen: 127.0.0.1:5432
  connect_address: 127.0.0.1:5432
  data_dir: /d
  authentication:
    superuser: {username: postgres, password: PW, sslpassword: PW}
    replication: {username: repl, password: PW}
    rewind: {username: rw, password: PW}
bootstrap:
  users:
    admin: {password: PW, options: [createdb]}
`, "PW", secretValue)
	cfg, _ := mustLoad(t, writeFile(t, y))
	return cfg
}

func TestSecretsNeverPrint(t *testing.T) {
	cfg := secretConfig(t)
	if cfg.PostgreSQL.Superuser.Password.Reveal() != secretValue || cfg.Etcd.Password.Reveal() != secretValue {
		t.Fatal("Reveal must return the value")
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	logger.Info("config", "cfg", cfg, "pw", cfg.RestAPI.Password)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "pw", cfg.Etcd.Password, "auth", cfg.PostgreSQL.Superuser)
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", *cfg), "%#v": fmt.Sprintf("%#v", *cfg),
		"%s": fmt.Sprintf("%s", cfg.RestAPI.Password), "%q": fmt.Sprintf("%q", cfg.RestAPI.Password),
		"%d": fmt.Sprintf("%d", cfg.RestAPI.Password), "%x": fmt.Sprintf("%x", cfg.RestAPI.Password),
		"slog": logs.String(), "json": string(js),
		"redacted": fmt.Sprint(cfg.Redacted()),
	}
	for name, out := range outputs {
		if strings.Contains(out, secretValue) || strings.Contains(out, fmt.Sprintf("%x", secretValue)) {
			t.Errorf("%s leaks the secret: %s", name, out)
		}
	}
	if !strings.Contains(outputs["%+v"], "******") {
		t.Errorf("redaction marker missing: %s", outputs["%+v"])
	}
	if Secret("").String() != "" {
		t.Error("an empty secret prints empty")
	}
}

func TestSecretsNotInDiagnostics(t *testing.T) {
	y := baseConfig + "  authentication:\n    superuser:\n      password: [" + secretValue + "]\n      passwrd: " + secretValue + "\n"
	_, warns, err := Load(writeFile(t, y), testEnv)
	all := fmt.Sprint(err) + listWarnings(warns)
	if err == nil || strings.Contains(all, secretValue) {
		t.Errorf("diagnostics leak or miss: %s", all)
	}
	y = baseConfig + "bootstrap:\n  users:\n    u:\n      password: " + secretValue + "\n      options: " + secretValue + "\n"
	_, warns, err = Load(writeFile(t, y+"  restapi_password: x\n"), testEnv)
	if strings.Contains(fmt.Sprint(err)+listWarnings(warns), secretValue) {
		t.Error("leak")
	}
}

func TestRedacted(t *testing.T) {
	r := secretConfig(t).Redacted()
	pg := r["postgresql"].(map[string]any)["authentication"].(map[string]any)["superuser"].(map[string]any)
	if pg["password"] != "******" || pg["sslpassword"] != "******" || pg["username"] != "postgres" {
		t.Errorf("superuser = %v", pg)
	}
	if got := r["etcd3"].(map[string]any)["url"]; got != "http://root:******@127.0.0.1:2379" {
		t.Errorf("url = %v", got)
	}
	if got := r["bootstrap"].(map[string]any)["users"].(map[string]any)["admin"].(map[string]any)["password"]; got != "******" {
		t.Errorf("users = %v", got)
	}
	// Redacted returns a copy.
	r["scope"] = "changed"
	if secretConfig(t).Redacted()["scope"] != "demo" {
		t.Error("Redacted must not share the merged tree")
	}
}

func TestDirectoryMergeAndSources(t *testing.T) {
	dir := writeDir(t, map[string]string{
		"a.yml":     baseConfig + "tags: {nofailover: true, x: 1}\n",
		"b.yaml":    "tags: {x: null}\nbogus: 1\n",
		"c.txt":     "not: loaded: here\n",
		"d.yml.bak": "also ignored",
	})
	cfg, warns := mustLoad(t, dir)
	if cfg.Tags["nofailover"] != true {
		t.Errorf("tags = %v", cfg.Tags)
	}
	if _, ok := cfg.Tags["x"]; ok {
		t.Error("null must delete the key, as Patroni's patch_config does")
	}
	if len(warns) != 1 || warns[0].Source != "b.yaml" || warns[0].Line != 2 || warns[0].String() != "b.yaml: line 2: bogus: unknown key, ignored" {
		t.Errorf("warnings:\n%s", listWarnings(warns))
	}
	_, _, err := Load(t.TempDir(), nil)
	if err == nil || !strings.Contains(err.Error(), "no *.yml") {
		t.Errorf("empty dir: %v", err)
	}
	_, _, err = Load(filepath.Join(t.TempDir(), "missing.yml"), nil)
	if err == nil {
		t.Error("missing file must fail")
	}
}

func TestYAMLAliasesAndMerge(t *testing.T) {
	y := baseConfig + "x-auth: &auth {username: u, password: p}\nctl:\n  authentication:\n    <<: *auth\n    username: override\n"
	cfg, warns := mustLoad(t, writeFile(t, y))
	if cfg.Ctl.Username != "override" || cfg.Ctl.Password.Reveal() != "p" {
		t.Errorf("ctl = %+v", cfg.Ctl)
	}
	wantWarning(t, warns, "x-auth", 12, "unknown key")
	bomb := "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
	if _, _, err := Load(writeFile(t, bomb), nil); err == nil {
		t.Error("alias bomb must be refused")
	}
}

func TestReplicaMethodOptions(t *testing.T) {
	pg := PostgreSQL{ReplicaMethods: map[string]map[string]any{
		"a": {"no_leader": true, "keep_data": 1},
		"b": {"no_master": "yes", "no_params": true},
		"c": {"no_leader": false, "no_master": "", "keep_data": 0, "no_params": nil},
	}}
	for name, want := range map[string]ReplicaMethodOptions{
		"a":       {NoLeader: true, KeepData: true},
		"b":       {NoLeader: true, NoParams: true},
		"c":       {},
		"missing": {},
	} {
		if got := pg.ReplicaMethodOptions(name); got != want {
			t.Errorf("%s: %+v, want %+v", name, got, want)
		}
	}
}

// A method section that only standby_cluster.create_replica_methods names (in the
// dynamic configuration) is kept without a warning; a map without a command is still
// an unknown key.
func TestUnlistedReplicaMethodSection(t *testing.T) {
	cfg, warns := mustLoad(t, writeFile(t, baseConfig+`  dr_restore:
    command: /usr/local/bin/dr-restore --stanza dr
    no_leader: true
  stray:
    threads: 2
`))
	pg := cfg.PostgreSQL
	if pg.ReplicaMethods["dr_restore"]["command"] != "/usr/local/bin/dr-restore --stanza dr" || !pg.ReplicaMethodOptions("dr_restore").NoLeader {
		t.Errorf("dr_restore section: %v", pg.ReplicaMethods["dr_restore"])
	}
	if !slices.Equal(pg.CreateReplicaMethods, []string{"basebackup"}) {
		t.Errorf("CreateReplicaMethods = %v, want [basebackup]", pg.CreateReplicaMethods)
	}
	if _, ok := pg.ReplicaMethods["stray"]; ok {
		t.Error("a section without a command was taken as a replica method")
	}
	if len(warns) != 1 || !strings.HasSuffix(warns[0].Key, "stray") {
		t.Errorf("warnings: %s", listWarnings(warns))
	}
}

func TestPatroniVersion(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		env        []string
		want       int
		err        string
	}{
		{"default auto", "", nil, 0, ""},
		{"auto", "warden:\n  patroni_version: auto\n", nil, 0, ""},
		{"major 3", "warden:\n  patroni_version: 3\n", nil, 3, ""},
		{"full version 4", "warden:\n  patroni_version: 4.1.5\n", nil, 4, ""},
		{"from the environment", "warden:\n  patroni_version: 3\n", []string{"PATRONI_WARDEN_PATRONI_VERSION=4"}, 4, ""},
		{"unknown", "warden:\n  patroni_version: 5\n", nil, 0, `warden.patroni_version: expected auto, 3 or 4`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := Load(writeFile(t, baseConfig+tc.yaml), append(slices.Clone(testEnv), tc.env...))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || cfg.PatroniVersion != tc.want {
				t.Fatalf("patroni_version = %v %v, want %d", cfg, err, tc.want)
			}
		})
	}
}

func TestConflictingTags(t *testing.T) {
	for _, tc := range []struct{ tags, key, want string }{
		{"  nofailover: true\n  failover_priority: 1\n", "tags.nofailover", "Conflicting configuration between nofailover: True and failover_priority: 1. Defaulting to nofailover: True"},
		{"  nofailover: false\n  failover_priority: 0\n", "tags.nofailover", "Conflicting configuration between nofailover: False and failover_priority: 0. Defaulting to nofailover: False"},
		{"  nosync: true\n  sync_priority: 2\n", "tags.nosync", "Conflicting configuration between nosync: True and sync_priority: 2. Defaulting to nosync: True"},
		{"  nofailover: true\n  failover_priority: 0\n", "", ""},
		{"  failover_priority: 0\n", "", ""},
	} {
		_, warns := mustLoad(t, writeFile(t, baseConfig+"tags:\n"+tc.tags))
		var got []string
		for _, w := range warns {
			if strings.Contains(w.Message, "Conflicting") {
				got = append(got, w.Key+": "+w.Message)
			}
		}
		if want := tc.key + ": " + tc.want; tc.want == "" && len(got) != 0 || tc.want != "" && (len(got) != 1 || got[0] != want) {
			t.Errorf("tags %q: warnings %q, want %q", tc.tags, got, tc.want)
		}
	}
}

func TestAuthenticationClientOptions(t *testing.T) {
	y := baseConfig + `  use_unix_socket: true
  use_unix_socket_repl: on
  authentication:
    superuser: {username: admin, password: pw, sslmode: verify-full, sslcert: /pki/admin.crt, sslkey: /pki/admin.key,
      sslpassword: keypw, sslrootcert: /pki/ca.crt, sslcrl: /pki/ca.crl, sslcrldir: /pki/crl.d, gssencmode: disable,
      channel_binding: require}
    replication: {username: rep, password: pw, sslmode: require}
`
	cfg, warns := mustLoad(t, writeFile(t, y))
	if len(warns) != 0 {
		t.Errorf("warnings:\n%s", listWarnings(warns))
	}
	pg := cfg.PostgreSQL
	su := pg.Superuser
	if !pg.UseUnixSocket || !pg.UseUnixSocketRepl || su.SSLMode != "verify-full" || su.SSLCert != "/pki/admin.crt" ||
		su.SSLKey != "/pki/admin.key" || su.SSLPassword.Reveal() != "keypw" || su.SSLRootCert != "/pki/ca.crt" ||
		su.SSLCRL != "/pki/ca.crl" || su.SSLCRLDir != "/pki/crl.d" || su.GSSEncMode != "disable" || su.ChannelBinding != "require" {
		t.Errorf("superuser: %+v", su)
	}
	if pg.Rewind.SSLMode != "verify-full" || pg.Replication.SSLMode != "require" {
		t.Errorf("rewind defaults to the superuser (%q), replication keeps its own (%q)", pg.Rewind.SSLMode, pg.Replication.SSLMode)
	}
	for _, tc := range []struct{ yaml, key, want string }{
		{"    replication: {username: rep, sslmode: verify_ca}\n", "postgresql.authentication.replication.sslmode", "expected one of disable, allow, prefer, require, verify-ca, verify-full"},
		{"    rewind: {username: rw, gssencmode: require}\n", "postgresql.authentication.rewind.gssencmode", "GSSAPI encryption"},
		{"    superuser: {username: su, channel_binding: always}\n", "postgresql.authentication.superuser.channel_binding", "expected one of disable, prefer, require"},
	} {
		_, _, err := Load(writeFile(t, baseConfig+"  authentication:\n"+tc.yaml), testEnv)
		if err == nil || !strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %s: %s", tc.key, err, tc.key, tc.want)
		}
	}
}

// Patroni 4.0.6: a trailing slash must not make "<data_dir>.failed" a path inside data_dir.
func TestDataDirCleaned(t *testing.T) {
	y := strings.Replace(baseConfig, "  data_dir: /tmp/warden-test/data\n", "  data_dir: /tmp/warden-test//data/\n  config_dir: /tmp/warden-test/conf/\n", 1)
	cfg, _ := mustLoad(t, writeFile(t, y))
	if cfg.PostgreSQL.DataDir != "/tmp/warden-test/data" || cfg.PostgreSQL.ConfigDir != "/tmp/warden-test/conf" {
		t.Fatalf("data_dir %q, config_dir %q: want them cleaned", cfg.PostgreSQL.DataDir, cfg.PostgreSQL.ConfigDir)
	}
	if got := cfg.PostgreSQL.DataDir + ".failed"; got != "/tmp/warden-test/data.failed" {
		t.Fatalf("failed bootstrap directory %q", got)
	}
}

// restapi.server_tokens (Patroni 4.1) is case-insensitive, from the file or PATRONI_RESTAPI_SERVER_TOKENS.
func TestServerTokens(t *testing.T) {
	cfg, warns := mustLoad(t, writeFile(t, strings.Replace(baseConfig, "restapi:\n", "restapi:\n  server_tokens: ProductOnly\n", 1)))
	if cfg.RestAPI.ServerTokens != "productonly" || len(warns) != 0 {
		t.Errorf("server_tokens %q, warnings %v", cfg.RestAPI.ServerTokens, warns)
	}
	cfg, _, err := Load(writeFile(t, baseConfig), []string{"PATRONI_RESTAPI_SERVER_TOKENS=Minimal"})
	if err != nil || cfg.RestAPI.ServerTokens != "minimal" {
		t.Errorf("from the environment: %q, %v", cfg.RestAPI.ServerTokens, err)
	}
}

// Patroni 4.1.1: pg_basebackup's server-side compression is allowed (the copy stays a
// plain data directory), client-side compression is removed with a warning, in every form.
func TestBasebackupCompress(t *testing.T) {
	cfg, warns := mustLoad(t, writeFile(t, baseConfig+"  basebackup:\n  - compress: server-zstd:level=3\n  - compress: gzip\n  - checkpoint: fast\n"))
	if !slices.Equal(cfg.PostgreSQL.Basebackup, []string{"--compress=server-zstd:level=3", "--checkpoint=fast"}) {
		t.Errorf("Basebackup = %q", cfg.PostgreSQL.Basebackup)
	}
	wantWarning(t, warns, "postgresql.basebackup[1]", 0, "only server-side compression is allowed")
	cfg, warns = mustLoad(t, writeFile(t, baseConfig+"  basebackup: {compress: server-gzip}\n"))
	if !slices.Equal(cfg.PostgreSQL.Basebackup, []string{"--compress=server-gzip"}) || len(warns) != 0 {
		t.Errorf("mapping form: %q, warnings %v", cfg.PostgreSQL.Basebackup, warns)
	}
	cfg, warns = mustLoad(t, writeFile(t, baseConfig+"  basebackup: [compress]\n"))
	if len(cfg.PostgreSQL.Basebackup) != 0 {
		t.Errorf("switch form kept: %q", cfg.PostgreSQL.Basebackup)
	}
	wantWarning(t, warns, "postgresql.basebackup[0]", 0, "only server-side compression is allowed")
}
