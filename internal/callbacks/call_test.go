package callbacks

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestCall(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	code, err := Call(context.Background(), Script{Name: "pre_promote", Argv: []string{"/bin/sh", "-c", "echo connecting with s3cret; echo oops >&2; exit 3"}, Hide: []string{"s3cret", ""}}, log)
	if err != nil || code != 3 {
		t.Fatalf("code %d err %v, want 3 <nil>", code, err)
	}
	out := buf.String()
	if strings.Contains(out, "s3cret") || !strings.Contains(out, `msg="pre_promote output" line="connecting with ***"`) || !strings.Contains(out, `line=oops`) {
		t.Fatalf("output not logged as expected:\n%s", out)
	}

	start := time.Now()
	code, err = Call(context.Background(), Script{Name: "before_stop", Argv: []string{"/bin/sh", "-c", "sleep 30 & sleep 30; exit 0"}, Timeout: 300 * time.Millisecond}, log)
	if err == nil || code != -1 {
		t.Fatalf("timed out script: code %d err %v", code, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the timeout did not kill the script's process group: %s", d)
	}

	if _, err := Call(context.Background(), Script{Name: "m", Argv: []string{"/nonexistent/script"}}, log); err == nil {
		t.Fatal("a missing command must be an error")
	}
}
