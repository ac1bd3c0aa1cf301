package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warden-ha/warden/internal/config"
)

func TestLogDirWritesPatroniLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	log, err := openLog(os.Stderr, config.Log{Level: "INFO", Format: "text", Dir: dir, FileSize: 1000, FileNum: 2, Mode: 0o640})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	log.Info("no action. I am (pg-1), the leader with the lock")
	path := filepath.Join(dir, "patroni.log")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "INFO: no action. I am (pg-1), the leader with the lock") {
		t.Fatalf("patroni.log = %q", b)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm()&^0o640 != 0 {
		t.Fatalf("patroni.log mode = %v (%v), want at most 0640", st.Mode(), err)
	}
}

// TestJSONLogRedacts: JSON lines carry Patroni's keys and secrets stay hidden.
func TestJSONLogRedacts(t *testing.T) {
	var buf bytes.Buffer
	log, err := openLog(&buf, config.Log{Level: "WARNING", Format: "json", StaticFields: map[string]string{"cluster": "batman"}})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown", "password", config.Secret("hunter2"), "auth", config.Auth{Username: "postgres", Password: "hunter2"})
	if strings.Contains(buf.String(), "hunter2") {
		t.Fatalf("secret in the log: %s", buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("json log = %q (%v)", buf.String(), err)
	}
	if rec["message"] != "shown" || rec["levelname"] != "WARNING" || rec["cluster"] != "batman" || rec["password"] != "******" {
		t.Fatalf("json log = %v", rec)
	}
	if _, err := openLog(&buf, config.Log{Level: "LOUD"}); err == nil || !strings.Contains(err.Error(), "log.level") {
		t.Fatalf("bad level error = %v", err)
	}
}

// TestLogLevelReload: a reload changes the level at once and says so; other changes
// are named as needing a restart.
func TestLogLevelReload(t *testing.T) {
	var buf bytes.Buffer
	conf := config.Log{Level: "INFO", Format: "text"}
	log, err := openLog(&buf, conf)
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("before")
	conf.Level = "DEBUG"
	log.reload(conf)
	log.Debug("after")
	out := buf.String()
	if strings.Contains(out, "before") || !strings.Contains(out, "DEBUG: after") || !strings.Contains(out, "log.level changed from=INFO to=DEBUG") {
		t.Fatalf("log:\n%s", out)
	}
	if strings.Contains(out, "restart") {
		t.Fatalf("a level change asked for a restart:\n%s", out)
	}
	buf.Reset()
	conf.Level = "ERROR"
	log.reload(conf)
	log.Warn("quiet")
	conf.Level, conf.Format = "INFO", "json"
	log.reload(conf)
	out = buf.String()
	if strings.Contains(out, "quiet") || !strings.Contains(out, "to=ERROR") || !strings.Contains(out, "from=ERROR to=INFO") || !strings.Contains(out, "restart Warden") {
		t.Fatalf("log:\n%s", out)
	}
}
