//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestJSONLogFile: with log.dir and log.format json, the agent writes patroni.log (0600)
// holding one JSON object per line, its decisions among them, and no password, rotated
// to patroni.log.1 and .2 at log.file_size keeping log.file_num files; SIGHUP with a new
// log.level applies it without a restart.
func TestJSONLogFile(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	n := c.nodes[0]
	logDir := filepath.Join(n.dir, "log")
	level := "INFO"
	c.pgExtra = func(*node) string {
		// A top-level section: it follows the postgresql section, the file's last.
		return "log:\n  dir: " + logDir + "\n  format: json\n  file_size: 3000\n  file_num: 2\n  level: " + level + "\n  static_fields: {cluster: " + c.scope + "}\n"
	}
	c.writeConfigs(fast)
	c.start(n)
	c.waitPrimary(60 * time.Second)
	logFile := filepath.Join(logDir, "patroni.log")
	decision := "no action. I am (" + n.name + "), the leader with the lock"
	c.eventually("a JSON decision line in "+logFile, 30*time.Second, func() bool {
		for _, r := range readJSONLogs(t, logFile) {
			if r["message"] == decision && r["levelname"] == "INFO" && r["cluster"] == c.scope && r["asctime"] != nil {
				return true
			}
		}
		return false
	})
	st, err := os.Stat(logFile)
	must(t, err)
	if st.Mode().Perm() != 0o600 || st.Sys().(*syscall.Stat_t).Uid != c.owner.uid {
		t.Errorf("%s: mode %v uid %d, want 0600 owned by postgres", logFile, st.Mode().Perm(), st.Sys().(*syscall.Stat_t).Uid)
	}

	level = "DEBUG"
	c.writeConfigs(fast)
	must(t, syscall.Kill(n.agentPid(), syscall.SIGHUP))
	c.eventually("the new log level applied", 30*time.Second, func() bool {
		for _, r := range readJSONLogs(t, logFile) {
			if r["message"] == "log.level changed" && r["from"] == "INFO" && r["to"] == "DEBUG" {
				return true
			}
		}
		return false
	})
	if pid := n.agentPid(); !alive(pid) {
		t.Fatalf("the agent (pid %d) is gone after SIGHUP", pid)
	}

	c.eventually("two rotations", 90*time.Second, func() bool {
		_, err := os.Stat(logFile + ".2")
		return err == nil
	})
	entries, err := os.ReadDir(logDir)
	must(t, err)
	for _, e := range entries {
		fi, err := e.Info()
		must(t, err)
		if name := e.Name(); name != "patroni.log" && name != "patroni.log.1" && name != "patroni.log.2" {
			t.Errorf("unexpected file %s in log.dir (file_num is 2)", name)
		} else if name != "patroni.log" && fi.Size() >= 3000 {
			t.Errorf("%s has %d bytes, file_size is 3000", name, fi.Size())
		}
	}
	readJSONLogs(t, logFile) // every line of every file is JSON
	stderr, err := os.ReadFile(n.logPath)
	must(t, err)
	for _, path := range []string{n.logPath, logFile, logFile + ".1", logFile + ".2"} {
		b, _ := os.ReadFile(path)
		for _, secret := range []string{superPassword, replPassword, rewindPass} {
			if strings.Contains(string(b), secret) {
				t.Errorf("a password is in %s", path)
			}
		}
	}
	if strings.Contains(string(stderr), decision) {
		t.Errorf("with log.dir set, decisions still go to stderr:\n%s", stderr)
	}
}

// readJSONLogs reads path and its rotated files, oldest first.
func readJSONLogs(t *testing.T, path string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, p := range []string{path + ".2", path + ".1", path} {
		out = append(out, readJSONLog(t, p)...)
	}
	return out
}

// readJSONLog parses every complete line of path (the agent may be writing the last);
// a line that is not one JSON object fails the test.
func readJSONLog(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []map[string]any
	lines := strings.Split(string(b), "\n")
	for _, line := range lines[:len(lines)-1] {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%s: not a JSON line: %q", path, line)
		}
		out = append(out, r)
	}
	return out
}

// TestPythonLogFormat: Patroni 4's example log.format with the call-site attributes, an
// attribute without meaning in Go and one Python does not know: the agent starts, the
// lines carry the Go file, line and function that logged, and the load warnings name
// what is rendered differently.
func TestPythonLogFormat(t *testing.T) {
	c := newCluster(t, startEmbeddedEtcd(t), fast)
	n := c.nodes[0]
	c.pgExtra = func(*node) string {
		return "log:\n  format: '%(asctime)s %(levelname)s [%(pathname)s:%(lineno)d - %(funcName)s] %(module)s %(threadName)s %(process)d %(colour)s: %(message)s'\n"
	}
	c.writeConfigs(fast)
	c.start(n)
	c.waitPrimary(60 * time.Second)
	line := regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO \[\S+/internal/\S+\.go:\d+ - \w+\] \w+ MainThread \d+ %\(colour\)s: no action\. I am \(` + n.name + `\), the leader with the lock`)
	c.eventually("a decision line with its Go call site", 30*time.Second, func() bool { return line.MatchString(readFile(n.logPath)) })
	for _, w := range []string{"%(threadName) has no meaning in Warden", "%(colour) is not a Python LogRecord attribute; printed as written"} {
		if !c.logContains(n, w) {
			t.Errorf("no warning %q in the log", w)
		}
	}
}
