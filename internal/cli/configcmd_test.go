package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const validBase = `scope: demo
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

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "warden.yml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestValidateConfigListsEveryProblem: all errors and warnings, each with key and line,
// in file order, exit 1; the flag spelling behaves the same.
func TestValidateConfigListsEveryProblem(t *testing.T) {
	path := writeConfig(t, validBase+"  pg_ctl_timout: 5\nlog:\n  level: LOUD\n  file_num: -1\n  max_queue_size: 5\nwatchdog:\n  mode: maybe\n")
	for _, args := range [][]string{{"validate-config", path}, {"--validate-config", path}} {
		code, stdout, stderr := run(t, args...)
		if code != 1 || stdout != "" {
			t.Fatalf("%v: exit %d, stdout %q", args, code, stdout)
		}
		want := []string{
			"warning: line 12: postgresql.pg_ctl_timout: unknown key (did you mean pg_ctl_timeout?), ignored",
			"error: line 14: log.level: unknown log level \"LOUD\"",
			"error: line 15: log.file_num: must be 0 or more, got -1",
			"warning: line 16: log.max_queue_size: not supported by Warden",
			"warning: line 18: watchdog.mode: unknown watchdog mode",
			"warden: " + path + ": 2 errors, 3 warnings",
		}
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if len(lines) != len(want) {
			t.Fatalf("%v: stderr:\n%s", args, stderr)
		}
		for i, w := range want {
			if !strings.HasPrefix(lines[i], w) {
				t.Errorf("%v: line %d = %q, want prefix %q", args, i+1, lines[i], w)
			}
		}
	}
}

// pg15OnPath puts PostgreSQL 15 first on PATH: validate-config checks parameter names
// against the postgres binary bin_dir names (PATH when unset, as Patroni).
func pg15OnPath(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/usr/lib/postgresql/15/bin/postgres"); err != nil {
		t.Skip("PostgreSQL 15 binaries not installed")
	}
	t.Setenv("PATH", "/usr/lib/postgresql/15/bin:"+os.Getenv("PATH"))
}

func TestValidateConfigWarningsOnly(t *testing.T) {
	pg15OnPath(t)
	path := writeConfig(t, validBase+"log:\n  max_queue_size: 5\n")
	code, stdout, stderr := run(t, "validate-config", path)
	if code != 0 || stdout != path+": OK (1 warning)\n" || !strings.Contains(stderr, "warning: line 13: log.max_queue_size") {
		t.Fatalf("exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
	code, stdout, stderr = run(t, "validate-config", writeConfig(t, validBase))
	if code != 0 || !strings.HasSuffix(stdout, ": OK\n") || stderr != "" {
		t.Fatalf("clean file: exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
}

// TestGenerateConfigValidates: every spelling writes the sample (stdout or file, 0600)
// and validate-config accepts it without an error or a warning.
func TestGenerateConfigValidates(t *testing.T) {
	code, stdout, stderr := run(t, "generate-config")
	if code != 0 || stderr != "" || !strings.Contains(stdout, "scope: '#FIXME'") {
		t.Fatalf("generate-config: exit %d, stderr %q", code, stderr)
	}
	dir := t.TempDir()
	for _, args := range [][]string{{"generate-config"}, {"generate-sample-config"}, {"--generate-sample-config"}, {"--generate-config"}} {
		out := filepath.Join(dir, strings.TrimLeft(args[0], "-")+".yml")
		if code, _, stderr := run(t, append(args, out)...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		st, err := os.Stat(out)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%v: %v %v", args, st, err)
		}
		b, _ := os.ReadFile(out)
		if string(b) != stdout {
			t.Errorf("%v wrote a different sample", args)
		}
		code, vout, verr := run(t, "validate-config", out)
		if code != 0 || verr != "" || vout != out+": OK\n" {
			t.Fatalf("validate-config of the sample: exit %d\n%s%s", code, vout, verr)
		}
	}
}

// TestValidateConfigPrint: Patroni 4.1's --print writes the merged configuration (files
// and environment) as PyYAML would, passwords masked, the verdict on stderr; Patroni
// 4.0's --ignore-listen-port (-i) is accepted; both spellings behave the same.
func TestValidateConfigPrint(t *testing.T) {
	path := writeConfig(t, validBase+"  authentication:\n    superuser: {username: postgres, password: s3cret}\n  parameters:\n    work_mem: 8MB\n")
	t.Setenv("PATRONI_NAME", "from-env")
	want := `etcd3:
  hosts: 127.0.0.1:2379
name: from-env
postgresql:
  authentication:
    superuser:
      password: '******'
      username: postgres
  connect_address: 127.0.0.1:5432
  data_dir: /tmp/warden-test/data
  listen: 127.0.0.1:5432
  parameters:
    work_mem: 8MB
restapi:
  connect_address: 127.0.0.1:8008
  listen: 127.0.0.1:8008
scope: demo
`
	for _, args := range [][]string{{"--validate-config", "--print", "-i", path}, {"validate-config", "-p", "--ignore-listen-port", path}} {
		code, stdout, stderr := run(t, args...)
		if code != 0 || stdout != want || stderr != path+": OK\n" {
			t.Errorf("%v: exit %d\nstdout:\n%s\nstderr %q", args, code, stdout, stderr)
		}
	}
	code, stdout, _ := run(t, "--validate-config", "--print", writeConfig(t, validBase+"log:\n  level: LOUD\n"))
	if code != 1 || stdout != "" {
		t.Errorf("invalid configuration printed: exit %d\n%s", code, stdout)
	}
}
