package callbacks

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// records collects log records; scripts' output and the runner's verdicts are asserted on it.
type records struct {
	mu    sync.Mutex
	lines []string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *records) WithGroup(string) slog.Handler            { return r }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	r.mu.Lock()
	r.lines = append(r.lines, b.String())
	r.mu.Unlock()
	return nil
}

func (r *records) has(sub string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.ContainsFunc(r.lines, func(l string) bool { return strings.Contains(l, sub) })
}

func (r *records) dump() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cb.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func newRunner(t *testing.T, opts Options) (*Runner, *records) {
	t.Helper()
	rec := &records{}
	opts.Scope = "batman"
	r, err := New(opts, slog.New(rec))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Wait)
	return r, rec
}

func TestRunPassesActionRoleScope(t *testing.T) {
	out := filepath.Join(t.TempDir(), "args")
	cb := script(t, `echo "$@" >> `+out)
	r, _ := newRunner(t, Options{Scripts: map[string]string{"on_role_change": cb + " --flag 'two words'", "on_stop": cb}})
	r.Run(OnRoleChange, "master")
	r.Wait()
	r.Run(OnStop, "replica")
	r.Wait()
	r.Run(OnStart, "replica") // not configured: nothing runs
	r.Wait()
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := "--flag two words on_role_change master batman\non_stop replica batman\n"
	if string(b) != want {
		t.Fatalf("arguments:\n%s\nwant:\n%s", b, want)
	}
}

func TestRunLogsOutputLineByLine(t *testing.T) {
	cb := script(t, `echo "this is patroni callback $1 $2 $3"; echo oops >&2; printf 'no newline'; exit 3`)
	r, rec := newRunner(t, Options{Scripts: map[string]string{"on_start": cb}})
	r.Run(OnStart, "replica")
	r.Wait()
	for _, want := range []string{
		"callback output callback=on_start line=this is patroni callback on_start replica batman",
		"callback output callback=on_start line=oops",
		"callback output callback=on_start line=no newline",
		"callback failed callback=on_start",
		"exit status 3",
	} {
		if !rec.has(want) {
			t.Errorf("log lacks %q:\n%s", want, rec.dump())
		}
	}
}

func TestRunKillsThePreviousCallback(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "child")
	slow := script(t, `sleep 30 & echo $! > `+marker+`; wait`)
	fast := script(t, `echo fast`)
	r, rec := newRunner(t, Options{Scripts: map[string]string{"on_start": slow, "on_role_change": fast, "on_reload": fast}})
	began := time.Now()
	r.Run(OnStart, "replica")
	r.Run(OnReload, "replica") // its own lane: does not kill on_start
	if rec.has("callback killed callback=on_start") {
		t.Fatal("on_reload killed on_start")
	}
	r.Run(OnRoleChange, "primary")
	r.Wait()
	if took := time.Since(began); took > 10*time.Second {
		t.Fatalf("the running callback was not killed: waited %s", took)
	}
	if !rec.has("killing the previous callback still running callback=on_start") || !rec.has("callback killed callback=on_start") {
		t.Fatalf("log:\n%s", rec.dump())
	}
	if !rec.has("callback finished callback=on_role_change") || !rec.has("callback finished callback=on_reload") {
		t.Fatalf("log:\n%s", rec.dump())
	}
}

func TestRunReloadOnlyReplacesReload(t *testing.T) {
	cb := script(t, `if [ "$2" = slow ]; then sleep 30; fi`)
	r, rec := newRunner(t, Options{Scripts: map[string]string{"on_reload": cb, "on_start": cb}})
	r.Run(OnReload, "slow")
	r.Run(OnStart, "master")
	r.Run(OnReload, "master")
	r.Wait()
	if !rec.has("killing the previous callback still running callback=on_reload pid=") || rec.has("callback killed callback=on_start") {
		t.Fatalf("log:\n%s", rec.dump())
	}
}

func TestRunTimeout(t *testing.T) {
	cb := script(t, `echo before; sleep 30; echo after`)
	r, rec := newRunner(t, Options{Scripts: map[string]string{"on_stop": cb}, Timeout: 200 * time.Millisecond})
	began := time.Now()
	r.Run(OnStop, "master")
	r.Wait()
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("a hanging callback ran %s", took)
	}
	if !rec.has("callback timed out and was killed callback=on_stop") || !rec.has("line=before") || rec.has("line=after") {
		t.Fatalf("log:\n%s", rec.dump())
	}
}

func TestRunStripsPatroniEnvironment(t *testing.T) {
	out := filepath.Join(t.TempDir(), "env")
	cb := script(t, `env > `+out)
	r, _ := newRunner(t, Options{Scripts: map[string]string{"on_start": cb},
		Env: []string{"PATH=/usr/bin:/bin", "PATRONI_SUPERUSER_PASSWORD=secret", "KEEP=1"}})
	r.Run(OnStart, "master")
	r.Wait()
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "PATRONI_") || !strings.Contains(string(b), "KEEP=1") {
		t.Fatalf("environment:\n%s", b)
	}
}

func TestRunMissingScriptDoesNotBlock(t *testing.T) {
	r, rec := newRunner(t, Options{Scripts: map[string]string{"on_start": "/nonexistent/cb.sh"}})
	r.Run(OnStart, "master")
	r.Wait()
	if !rec.has("callback failed to start callback=on_start") {
		t.Fatalf("log:\n%s", rec.dump())
	}
}

func TestNewRejectsBadConfiguration(t *testing.T) {
	_, err := New(Options{Scripts: map[string]string{"on_start": "/bin/cb 'unclosed", "on_fire": "/bin/cb"}}, slog.New(&records{}))
	if err == nil || !strings.Contains(err.Error(), "postgresql.callbacks.on_start: no closing quotation") ||
		!strings.Contains(err.Error(), "postgresql.callbacks.on_fire: unknown callback") {
		t.Fatalf("err = %v", err)
	}
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"plain", "/bin/cb.sh", []string{"/bin/cb.sh"}},
		{"blanks", "  sudo  -n\t/bin/cb.sh ", []string{"sudo", "-n", "/bin/cb.sh"}},
		{"single quotes literal", `cb 'a b\c "d"'`, []string{"cb", `a b\c "d"`}},
		{"double quotes escapes", `cb "a \"b\" \\ \x $"`, []string{"cb", `a "b" \ \x $`}},
		{"backslash outside quotes", `cb a\ b \'c`, []string{"cb", "a b", "'c"}},
		{"adjacent quotes join", `cb a'b'"c"`, []string{"cb", "abc"}},
		{"empty quoted word", `cb ''`, []string{"cb", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Split(tc.in)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("Split(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
	for _, bad := range []string{`cb 'x`, `cb "x`, `cb x\`} {
		if _, err := Split(bad); err == nil {
			t.Errorf("Split(%q) succeeded", bad)
		}
	}
}
