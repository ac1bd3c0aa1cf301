package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warden-ha/warden/internal/config"
)

func TestLogDirWritesPatroniLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	log, err := newConfiguredLogger(os.Stderr, config.Log{Level: "INFO", Dir: dir, FileSize: 1000, FileNum: 2})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("no action. I am (pg-1), the leader with the lock")
	b, err := os.ReadFile(filepath.Join(dir, "patroni.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "INFO: no action. I am (pg-1), the leader with the lock") {
		t.Fatalf("patroni.log = %q", b)
	}
}

func TestJSONLogType(t *testing.T) {
	var buf bytes.Buffer
	log, err := newConfiguredLogger(&buf, config.Log{Level: "WARNING", Type: "json"})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown", "key", "v")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil || rec["msg"] != "shown" {
		t.Fatalf("json log = %q (%v)", buf.String(), err)
	}
	if _, err := newConfiguredLogger(&buf, config.Log{Level: "LOUD"}); err == nil || !strings.Contains(err.Error(), "log.level") {
		t.Fatalf("bad level error = %v", err)
	}
}

func TestValidateConfig(t *testing.T) {
	var out, errOut bytes.Buffer
	good := filepath.Join("..", "config", "testdata", "seed", "blog-patroni01.yml")
	if code := Main(context.Background(), []string{"--validate-config", good}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d for a seed config: %s", code, errOut.String())
	}
	if !strings.Contains(errOut.String(), "wal_keep_segment") {
		t.Errorf("no warning naming the misspelled parameter:\n%s", errOut.String())
	}
	bad := filepath.Join(t.TempDir(), "bad.yml")
	if err := os.WriteFile(bad, []byte("scope: x\nname: [oops\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	if code := Main(context.Background(), []string{"--validate-config", bad}, &out, &errOut); code != 1 {
		t.Fatalf("exit %d for broken YAML", code)
	}
	if !strings.Contains(errOut.String(), "line") {
		t.Errorf("error does not name the line: %s", errOut.String())
	}
}

func TestRefusesRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	var out, errOut bytes.Buffer
	if code := Main(context.Background(), []string{"some.yml"}, &out, &errOut); code != 1 {
		t.Fatalf("exit %d as root", code)
	}
	if !strings.Contains(errOut.String(), "postgres user") {
		t.Errorf("root refusal does not say how to run: %s", errOut.String())
	}
}

func TestPrefix(t *testing.T) {
	for _, tc := range []struct{ ns, scope, want string }{
		{"/service/", "batman", "/service/batman/"},
		{"/db/", "postgres", "/db/postgres/"},
		{"service", "x", "/service/x/"},
	} {
		if got := prefix(tc.ns, tc.scope); got != tc.want {
			t.Errorf("prefix(%q, %q) = %q, want %q", tc.ns, tc.scope, got, tc.want)
		}
	}
}
