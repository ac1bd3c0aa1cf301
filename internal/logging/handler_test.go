package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

type secret string

func (secret) LogValue() slog.Value { return slog.StringValue("******") }

func TestPatroniLineFormat(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(New(&buf, slog.LevelInfo)).With("node", "pg-1")
	log.Info("no action. I am (pg-1), the leader with the lock", "password", secret("hunter2"), "plan", "refresh-leader")
	log.Debug("hidden")
	want := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO: no action\. I am \(pg-1\), the leader with the lock node=pg-1 password=\*\*\*\*\*\* plan=refresh-leader\n$`)
	if !want.Match(buf.Bytes()) {
		t.Fatalf("line = %q", buf.String())
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{"debug": slog.LevelDebug, "WARNING": slog.LevelWarn, "": slog.LevelInfo, "CRITICAL": LevelCritical, "error": slog.LevelError} {
		if got, err := ParseLevel(in); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseLevel("loud"); err == nil {
		t.Error("ParseLevel(loud) did not fail")
	}
}

func TestLevelFiltering(t *testing.T) {
	for _, tc := range []struct {
		level string
		want  []string
	}{
		{"DEBUG", []string{"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}},
		{"INFO", []string{"INFO", "WARNING", "ERROR", "CRITICAL"}},
		{"WARNING", []string{"WARNING", "ERROR", "CRITICAL"}},
		{"ERROR", []string{"ERROR", "CRITICAL"}},
		{"CRITICAL", []string{"CRITICAL"}},
	} {
		lvl, err := ParseLevel(tc.level)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		log := slog.New(New(&buf, lvl))
		for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError, LevelCritical} {
			log.Log(context.Background(), l, "m")
		}
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if f := strings.Fields(line); len(f) > 2 {
				got = append(got, strings.TrimSuffix(f[2], ":"))
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("level %s logged %v, want %v", tc.level, got, tc.want)
		}
	}
}

// TestJSONShape: one object per line, Patroni's keys first, fields after, secrets redacted.
func TestJSONShape(t *testing.T) {
	var buf bytes.Buffer
	h := NewJSON(&buf, Options{Level: slog.LevelInfo}, map[string]string{"cluster": "batman", "app": "warden"})
	log := slog.New(h).With("node", "pg-1")
	log.Debug("hidden")
	log.Info("no action. I am (pg-1), the leader with the lock", "password", secret("hunter2"), "plan", "refresh-leader")
	log.Warn("second")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines:\n%s", buf.String())
	}
	want := regexp.MustCompile(`^\{"asctime":"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}","levelname":"INFO","message":"no action\. I am \(pg-1\), the leader with the lock","app":"warden","cluster":"batman","node":"pg-1","password":"\*\*\*\*\*\*","plan":"refresh-leader"\}$`)
	if !want.MatchString(lines[0]) {
		t.Fatalf("line = %s", lines[0])
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil || rec["levelname"] != "WARNING" || rec["message"] != "second" {
		t.Fatalf("second line %s: %v", lines[1], err)
	}
}

func TestFormatAndDateFormat(t *testing.T) {
	at := time.Date(2026, 11, 21, 9, 5, 3, 7_000_000, time.UTC)
	r := slog.NewRecord(at, slog.LevelWarn, "demoted", 0)
	r.AddAttrs(slog.String("leader", "pg-2"))
	for _, tc := range []struct {
		format, date, want string
	}{
		{"", "", "2026-11-21 09:05:03,007 WARNING: demoted leader=pg-2\n"},
		{DefaultFormat, "%d/%m/%Y %H:%M:%S", "21/11/2026 09:05:03 WARNING: demoted leader=pg-2\n"},
		{"[%(levelname)-8s] %(levelno)d %(message)s %%", "", "[WARNING ] 30 demoted % leader=pg-2\n"},
		{"%(asctime)s %(name)s %(msecs)03d: %(message)s", "%Y-%m-%dT%H:%M:%S%z", "2026-11-21T09:05:03+0000 warden 007: demoted leader=pg-2\n"},
	} {
		var buf bytes.Buffer
		h := NewText(&buf, Options{Level: slog.LevelInfo, Format: tc.format, DateFormat: tc.date})
		if err := h.Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		if buf.String() != tc.want {
			t.Errorf("format %q date %q: %q, want %q", tc.format, tc.date, buf.String(), tc.want)
		}
	}
	for _, tc := range []struct{ format, want, note string }{
		{"%(message)", "%(message) leader=pg-2", "needs a conversion"},
		{"100% %(message)s", "100% demoted", "a % must start"},
		{"%(message", "%(message", "unclosed"},
		{"%(levelname)d %(message)s", "WARNING demoted", "is text; printed as %(levelname)s"},
		{"%(color)s %(message)s", "%(color)s demoted", "not a Python LogRecord attribute"},
		{"[%(threadName)s] %(message)s", "[MainThread] demoted", "printed as MainThread"},
	} {
		var buf bytes.Buffer
		_ = NewText(&buf, Options{Level: slog.LevelInfo, Format: tc.format}).Handle(context.Background(), r)
		if notes := FormatNotes(tc.format); len(notes) != 1 || !strings.Contains(notes[0], tc.note) {
			t.Errorf("FormatNotes(%q) = %q, want one note with %q", tc.format, notes, tc.note)
		}
		if !strings.HasPrefix(buf.String(), tc.want) {
			t.Errorf("format %q: %q, want it to start %q", tc.format, buf.String(), tc.want)
		}
	}
	if notes := DateFormatNotes("%Y %Q"); len(notes) != 1 || formatTime(at, "%Y %Q") != "2026 %Q" {
		t.Errorf("dateformat %%Q: %q %q", notes, formatTime(at, "%Y %Q"))
	}
}

// TestEveryLogRecordAttribute: Patroni 4's documented format with the call site
// (%(pathname)s, %(lineno)d, %(funcName)s, ...) renders from the Go function that logged,
// and every other LogRecord attribute renders something.
func TestEveryLogRecordAttribute(t *testing.T) {
	var buf bytes.Buffer
	format := "%(asctime)s %(levelname)s [%(pathname)s:%(lineno)d - %(funcName)s] %(filename)s %(module)s %(name)s %(process)d %(threadName)s: %(message)s"
	if notes := FormatNotes(format); len(notes) != 1 || !strings.Contains(notes[0], "%(threadName)") {
		t.Errorf("notes %q", notes)
	}
	log := slog.New(NewText(&buf, Options{Level: slog.LevelInfo, Format: format}))
	log.Info("promoted self to leader by acquiring session lock")
	_, file, line, _ := runtime.Caller(0)
	want := fmt.Sprintf(" INFO [%s:%d - TestEveryLogRecordAttribute] handler_test.go handler_test warden %d MainThread: promoted self to leader by acquiring session lock\n", file, line-1, os.Getpid())
	if !strings.HasSuffix(buf.String(), want) {
		t.Errorf("line %q\nwant suffix %q", buf.String(), want)
	}
	var all []string
	for name := range recordAttributes {
		all = append(all, "%("+name+")s")
	}
	buf.Reset()
	log = slog.New(NewText(&buf, Options{Level: slog.LevelInfo, Format: strings.Join(all, "|")}))
	log.Info("x")
	for i, v := range strings.Split(strings.TrimSpace(buf.String()), "|") {
		if v == "" || strings.Contains(v, "%(") {
			t.Errorf("%s rendered %q", all[i], v)
		}
	}
	buf.Reset()
	at := time.Date(2026, 11, 21, 9, 5, 3, 7_000_000, time.UTC)
	_ = NewText(&buf, Options{Level: slog.LevelInfo, Format: "%(created)s %(msecs)s %(created).1f %(lineno)d %(funcName)s"}).Handle(context.Background(), slog.NewRecord(at, slog.LevelInfo, "m", 0))
	if got := buf.String(); got != "1795251903.007 7.0 1795251903.0 0 (unknown function)\n" {
		t.Errorf("floats and unknown call site: %q", got)
	}
}
