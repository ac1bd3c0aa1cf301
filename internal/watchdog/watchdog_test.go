package watchdog

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fake is a device whose abilities the test chooses; it records what was done to it.
type fake struct {
	openErr error
	infoErr error
	options uint32
	fixed   int // timeout when it cannot be set
	timeout int
	calls   []string
	isOpen  bool
}

func (f *fake) Open() error {
	f.calls = append(f.calls, "open")
	if f.openErr != nil {
		return f.openErr
	}
	f.isOpen = true
	return nil
}
func (f *fake) Close() error     { f.calls = append(f.calls, "V"); f.isOpen = false; return nil }
func (f *fake) Keepalive() error { f.calls = append(f.calls, "1"); return nil }
func (f *fake) Info() (Info, error) {
	return Info{Options: f.options, Identity: "fake"}, f.infoErr
}
func (f *fake) SetTimeout(s int) error { f.calls = append(f.calls, "set"); f.timeout = s; return nil }
func (f *fake) Timeout() (int, error) {
	if f.options&unix.WDIOF_SETTIMEOUT == 0 {
		return f.fixed, nil
	}
	return f.timeout, nil
}
func (f *fake) Describe() string { return "fake" }

const full = unix.WDIOF_SETTIMEOUT | unix.WDIOF_MAGICCLOSE

func newFor(mode string, f *fake) (*Watchdog, *bytes.Buffer) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	return New(Config{Mode: mode, SafetyMargin: 5 * time.Second}, func(Config) Device { return f }, log), &buf
}

const ttl, loop = 30 * time.Second, 10 * time.Second

func TestTimeout(t *testing.T) {
	for _, c := range []struct {
		ttl, margin time.Duration
		want        int
	}{{30 * time.Second, 5 * time.Second, 25}, {30 * time.Second, -time.Second, 15}, {31 * time.Second, -time.Second, 15}, {20 * time.Second, 0, 20}} {
		if got := Timeout(c.ttl, c.margin); got != c.want {
			t.Errorf("Timeout(%s, %s) = %d, want %d", c.ttl, c.margin, got, c.want)
		}
	}
}

func TestActivateFeedDisable(t *testing.T) {
	f := &fake{options: full}
	w, log := newFor(ModeRequired, f)
	if err := w.Activate(ttl, loop); err != nil {
		t.Fatal(err)
	}
	if f.timeout != 25 || !w.Running() || !w.Activated() {
		t.Fatalf("timeout %d running %v", f.timeout, w.Running())
	}
	w.Keepalive(ttl, loop)
	w.Keepalive(40*time.Second, loop) // ttl raised in the DCS: the timeout follows
	if f.timeout != 35 {
		t.Fatalf("timeout after ttl change %d, want 35", f.timeout)
	}
	w.Disable()
	if got := strings.Join(f.calls, " "); got != "open set 1 1 set V" {
		t.Fatalf("calls %q", got)
	}
	if w.Running() || w.Activated() {
		t.Fatal("still running after disable")
	}
	for _, want := range []string{"fake activated with 25 second timeout, timing slack 15 seconds", "fake updated with 35 second timeout", "fake disabled (magic close)"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

func TestActivationFailures(t *testing.T) {
	noDevice := &fake{openErr: syscall.ENOENT}
	noIoctl := &fake{infoErr: syscall.ENOTTY}
	fixedLong := &fake{options: unix.WDIOF_MAGICCLOSE, fixed: 60}
	fixedShort := &fake{options: unix.WDIOF_MAGICCLOSE, fixed: 5}
	for _, c := range []struct {
		name    string
		dev     *fake
		ttl     time.Duration
		log     string
		running bool // in automatic mode
	}{
		{"no device", noDevice, ttl, "Could not activate fake", false},
		{"ioctls unsupported (a FIFO)", noIoctl, ttl, "Could not activate fake", false},
		{"timeout fixed and too long", fixedLong, ttl, "Watchdog timeout 60 seconds does not ensure safe termination within 25 seconds", true},
		{"timeout shorter than loop_wait", fixedShort, ttl, "loop_wait of 10 seconds is too long for watchdog 5 second timeout", false},
		{"ttl too short", &fake{options: full}, 12 * time.Second, "Watchdog not supported because leader TTL 12 is less than 2x loop_wait 10", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.dev.calls = nil
			w, log := newFor(ModeAutomatic, c.dev)
			if err := w.Activate(c.ttl, loop); err != nil {
				t.Fatalf("automatic mode: %v", err)
			}
			if !strings.Contains(log.String(), c.log) || w.Running() != c.running {
				t.Fatalf("automatic: running %v, log:\n%s", w.Running(), log)
			}
			w.Keepalive(c.ttl, loop)
			w.Keepalive(c.ttl, loop)
			if strings.Contains(log.String(), "updated with") {
				t.Fatalf("keepalives with an unchanged ttl changed the timeout:\n%s", log)
			}
			w.Disable()
			c.dev.calls = nil
			w, log = newFor(ModeRequired, c.dev)
			if err := w.Activate(c.ttl, loop); !errors.Is(err, ErrUnsafe) {
				t.Fatalf("required mode: %v", err)
			}
			if w.Running() || w.Healthy(c.ttl, loop) || c.dev.isOpen {
				t.Fatalf("required: running %v healthy %v open %v", w.Running(), w.Healthy(ttl, loop), c.dev.isOpen)
			}
			if !strings.Contains(log.String(), "Configuration requires watchdog, but") {
				t.Fatalf("required: log:\n%s", log)
			}
		})
	}
}

func TestHealthy(t *testing.T) {
	dir := t.TempDir()
	missing := New(Config{Mode: ModeRequired, Device: filepath.Join(dir, "watchdog"), SafetyMargin: 5 * time.Second}, nil, slog.Default())
	if missing.Healthy(ttl, loop) {
		t.Error("required with no device: healthy")
	}
	auto := New(Config{Mode: ModeAutomatic, Device: filepath.Join(dir, "watchdog")}, nil, slog.Default())
	if !auto.Healthy(ttl, loop) {
		t.Error("automatic mode is always healthy")
	}
	if err := os.WriteFile(filepath.Join(dir, "watchdog"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if !missing.Healthy(ttl, loop) || missing.Healthy(12*time.Second, loop) {
		t.Error("required: device present should be healthy unless ttl leaves no slack")
	}
}

// A FIFO stands in for a device: the Linux driver opens it, but its ioctls fail
// (ENOTTY), which Patroni treats as a device that cannot be activated; the testing
// driver turns the ioctls into writes.
func TestFIFODevices(t *testing.T) {
	path := filepath.Join(t.TempDir(), "watchdog")
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := NewLinux(path).Open(); !errors.Is(err, syscall.ENXIO) {
		t.Fatalf("open without a reader: %v, want ENXIO (never block)", err)
	}
	r, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	lin := NewLinux(path)
	if err := lin.Open(); err != nil {
		t.Fatal(err)
	}
	if _, err := lin.Info(); !errors.Is(err, syscall.ENOTTY) {
		t.Fatalf("GETSUPPORT on a FIFO: %v, want ENOTTY", err)
	}
	if err := lin.Keepalive(); err != nil {
		t.Fatal(err)
	}
	if err := lin.Close(); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	w := New(Config{Mode: ModeRequired, Driver: DriverTesting, Device: path, SafetyMargin: 5 * time.Second}, nil, slog.New(slog.NewTextHandler(&log, nil)))
	if err := w.Activate(ttl, loop); err != nil {
		t.Fatal(err, log.String())
	}
	w.Keepalive(ttl, loop)
	w.Disable()
	buf := make([]byte, 64)
	n, _ := r.Read(buf)
	if got := string(buf[:n]); got != "1VCtimeout=25\n1V" {
		t.Fatalf("FIFO got %q", got)
	}
	if !strings.Contains(log.String(), "Watchdog test harness at "+path+" activated with 25 second timeout") {
		t.Fatalf("log:\n%s", log.String())
	}
}

func TestReload(t *testing.T) {
	f := &fake{options: full}
	w, _ := newFor(ModeRequired, f)
	if err := w.Activate(ttl, loop); err != nil {
		t.Fatal(err)
	}
	w.SetConfig(Config{Mode: ModeRequired, SafetyMargin: 10 * time.Second})
	w.Keepalive(ttl, loop)
	if f.timeout != 20 || !w.Running() {
		t.Fatalf("new safety_margin: timeout %d running %v, want 20 and still running", f.timeout, w.Running())
	}
	w.SetConfig(Config{Mode: ModeRequired, Device: "/dev/watchdog1", SafetyMargin: 10 * time.Second})
	if w.Running() || w.Activated() || f.isOpen {
		t.Fatal("another device: the running one must be closed and the activation cleared")
	}
	broken := &fake{openErr: syscall.ENOENT}
	w, _ = newFor(ModeRequired, broken)
	if err := w.Activate(ttl, loop); err == nil || w.Healthy(ttl, loop) {
		t.Fatal("failed activation must leave the required watchdog unhealthy")
	}
	w.SetConfig(Config{Mode: ModeAutomatic})
	if !w.Healthy(ttl, loop) || !w.Enabled() {
		t.Fatal("automatic mode after reload: healthy and enabled")
	}
	w.SetConfig(Config{Mode: ModeOff})
	if w.Enabled() {
		t.Fatal("mode off after reload: still enabled")
	}
}
