package logging

import (
	"bytes"
	"log/slog"
	"regexp"
	"testing"
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
	for in, want := range map[string]slog.Level{"debug": slog.LevelDebug, "WARNING": slog.LevelWarn, "": slog.LevelInfo, "CRITICAL": slog.LevelError} {
		if got, err := ParseLevel(in); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseLevel("loud"); err == nil {
		t.Error("ParseLevel(loud) did not fail")
	}
}
