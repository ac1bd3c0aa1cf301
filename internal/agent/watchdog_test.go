package agent

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/sys/unix"

	"github.com/warden-ha/warden/internal/dcs"
	"github.com/warden-ha/warden/internal/dcs/dcstest"
	"github.com/warden-ha/warden/internal/watchdog"
)

// fakeDevice records when it was opened, fed and closed (virtual time).
type fakeDevice struct {
	mu       sync.Mutex
	openErr  error
	opened   []time.Time
	fed      []time.Time
	closed   []time.Time
	timeout  int
	lastOpen bool
}

func (d *fakeDevice) Open() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.openErr != nil {
		return d.openErr
	}
	d.opened, d.lastOpen = append(d.opened, time.Now()), true
	return nil
}
func (d *fakeDevice) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed, d.lastOpen = append(d.closed, time.Now()), false
	return nil
}
func (d *fakeDevice) Keepalive() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fed = append(d.fed, time.Now())
	return nil
}
func (d *fakeDevice) Info() (watchdog.Info, error) {
	return watchdog.Info{Options: unix.WDIOF_SETTIMEOUT | unix.WDIOF_MAGICCLOSE}, nil
}
func (d *fakeDevice) SetTimeout(s int) error { d.timeout = s; return nil }
func (d *fakeDevice) Timeout() (int, error)  { return d.timeout, nil }
func (d *fakeDevice) Describe() string       { return "fake watchdog" }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func runWithWatchdog(t *testing.T, dev *fakeDevice, mode string, run time.Duration) (*Agent, dcs.Store, *fakeNode, string) {
	d := testDynamic(10*time.Second, 2*time.Second, 4*time.Second)
	backend := dcstest.NewBackend(time.Now)
	store := backend.Client("pg-1", dcs.Options{Prefix: "/service/t/", Member: "pg-1", TTL: d.TTL, RetryTimeout: d.RetryTimeout})
	node := newFakeNode()
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	wd := watchdog.New(watchdog.Config{Mode: mode, SafetyMargin: 5 * time.Second}, func(watchdog.Config) watchdog.Device { return dev }, log)
	a := New(Options{Name: "pg-1", Scope: "t", CanBootstrap: true, Dynamic: d, BootstrapDCS: d.Raw, Watchdog: wd}, store, node, noPeers{}, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	time.Sleep(run)
	synctest.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return a, store, node, logs.String()
}

// TestWatchdogFedWhileLeader: the primary opens the device after taking the lock, feeds
// it after every refresh (loop_wait apart) and closes it with the magic character on a
// clean stop, after PostgreSQL is down.
func TestWatchdogFedWhileLeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dev := &fakeDevice{}
		_, _, node, logs := runWithWatchdog(t, dev, watchdog.ModeRequired, 30*time.Second)
		if len(dev.opened) != 1 || dev.timeout != 5 {
			t.Fatalf("opened %d times, timeout %d (want once, ttl 10 - safety_margin 5)\n%s", len(dev.opened), dev.timeout, logs)
		}
		if len(dev.fed) < 10 {
			t.Fatalf("fed %d times in 30s with loop_wait 2s", len(dev.fed))
		}
		for i := 1; i < len(dev.fed); i++ {
			if gap := dev.fed[i].Sub(dev.fed[i-1]); gap > 2*time.Second {
				t.Errorf("keepalive gap %s > loop_wait", gap)
			}
		}
		stops := node.stoppedAt()
		if len(dev.closed) != 1 || len(stops) == 0 || dev.closed[0].Before(stops[len(stops)-1]) {
			t.Fatalf("closed %v, PostgreSQL stopped %v: want one magic close after the stop", dev.closed, stops)
		}
		if !strings.Contains(logs, "fake watchdog activated with 5 second timeout, timing slack 3 seconds") {
			t.Errorf("no activation line:\n%s", logs)
		}
	})
}

// TestRequiredWatchdogUnavailable: the device cannot be opened; the bootstrapped
// primary hands the lock back and never takes it again, and says why.
func TestRequiredWatchdogUnavailable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dev := &fakeDevice{openErr: errors.New("can't open watchdog device: no such file or directory")}
		a, store, node, logs := runWithWatchdog(t, dev, watchdog.ModeRequired, time.Minute)
		if cl, _ := store.Load(context.Background()); cl.Locked() {
			t.Errorf("leader key held by %s", cl.LeaderName())
		}
		if !a.Status().WatchdogFailed {
			t.Error("status does not report watchdog_failed")
		}
		node.mu.Lock()
		primary := node.running && node.primary
		node.mu.Unlock()
		if primary {
			t.Error("still running as primary")
		}
		for _, want := range []string{"Configuration requires watchdog, but watchdog could not be configured.", "Demoting self because watchdog could not be activated", "not the healthiest node: Watchdog device is not usable"} {
			if !strings.Contains(logs, want) {
				t.Errorf("log lacks %q", want)
			}
		}
	})
}

// TestAutomaticWatchdogUnavailable: one warning, then the node runs as leader.
func TestAutomaticWatchdogUnavailable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dev := &fakeDevice{openErr: errors.New("can't open watchdog device: no such file or directory")}
		_, _, _, logs := runWithWatchdog(t, dev, watchdog.ModeAutomatic, time.Minute)
		if n := strings.Count(logs, "Could not activate fake watchdog"); n != 1 {
			t.Errorf("%d warnings, want 1:\n%s", n, logs)
		}
		if !strings.Contains(logs, "no action. I am (pg-1), the leader with the lock") {
			t.Errorf("never led:\n%s", logs)
		}
	})
}
