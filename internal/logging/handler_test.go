package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"regexp"
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
	h, err := NewJSON(&buf, Options{Level: slog.LevelInfo}, map[string]string{"cluster": "batman", "app": "warden"})
	if err != nil {
		t.Fatal(err)
	}
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
		h, err := NewText(&buf, Options{Level: slog.LevelInfo, Format: tc.format, DateFormat: tc.date})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		if buf.String() != tc.want {
			t.Errorf("format %q date %q: %q, want %q", tc.format, tc.date, buf.String(), tc.want)
		}
	}
	for _, bad := range []string{"%(funcName)s", "%(message)", "100%", "%(message", "%(levelname)d"} {
		if err := CheckFormat(bad); err == nil {
			t.Errorf("CheckFormat(%q) accepted", bad)
		}
	}
	if err := CheckDateFormat("%Q"); err == nil {
		t.Error("CheckDateFormat(%Q) accepted")
	}
}
