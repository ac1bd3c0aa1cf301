package fence

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestArmedDeadlineStopsPostgres(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, w := io.Pipe()
		stopped := make(chan time.Time, 1)
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- Run(r, Actions{Stop: func() error { stopped <- time.Now(); return nil }}, quiet()) }()
		io.WriteString(w, "arm 3000\n")
		time.Sleep(2 * time.Second)
		io.WriteString(w, "arm 3000\n") // refreshed: the deadline moves to 5s
		select {
		case at := <-stopped:
			if got := at.Sub(start); got != 5*time.Second {
				t.Fatalf("stopped after %s, want 5s", got)
			}
		case <-time.After(time.Minute):
			t.Fatal("never stopped")
		}
		// The fence outlives a stop: the agent, resumed and primary again, re-arms it.
		io.WriteString(w, "arm 1000\n")
		select {
		case at := <-stopped:
			if got := at.Sub(start); got != 6*time.Second {
				t.Fatalf("second stop after %s, want 6s", got)
			}
		case <-time.After(time.Minute):
			t.Fatal("a fence that fired once never fired again")
		}
		w.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

func TestDisarmAndEndOfInput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stopped := false
		err := Run(strings.NewReader("arm 1000\ndisarm\n"), Actions{Stop: func() error { stopped = true; return nil }}, quiet())
		if err != nil || stopped {
			t.Fatalf("disarmed fence stopped PostgreSQL (err %v)", err)
		}
		start := time.Now()
		var at time.Time
		err = Run(strings.NewReader("arm 4000\n"), Actions{Stop: func() error { at = time.Now(); return nil }}, quiet())
		if err != nil || at.Sub(start) != 4*time.Second {
			t.Fatalf("armed fence after the agent vanished: stopped at %s (err %v)", at.Sub(start), err)
		}
	})
}

func TestParse(t *testing.T) {
	for _, bad := range []string{"arm", "arm -1", "arm x", "fire", ""} {
		if _, err := parse(bad); err == nil {
			t.Errorf("parse(%q) accepted", bad)
		}
	}
}
