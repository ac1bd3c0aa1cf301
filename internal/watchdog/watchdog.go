// Package watchdog drives a Linux watchdog device as Patroni 3.0.2 does: the primary
// activates it when it takes (or finds itself holding) the leader lock, feeds it after
// every successful lease refresh, and closes it with the magic character on demotion,
// in maintenance mode and on a clean stop. If the agent freezes, the keepalives stop and
// the device resets the machine ttl - safety_margin seconds after the last one, before
// the lease (ttl after the last refresh was sent) can expire and another node promote.
//
// Modes: off; automatic (use a device when one can be configured, otherwise log why and
// go on without); required (the node must not be primary without a safely configured
// device: Healthy turns false, the HA core refuses the lock and the REST API reports
// watchdog_failed). The fencing process (internal/fence) is independent of this and
// covers machines without a device.
package watchdog

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Modes, as config.Watchdog.Mode spells them.
const (
	ModeOff       = "off"
	ModeAutomatic = "automatic"
	ModeRequired  = "required"
)

// Drivers, as config.Watchdog.Driver spells them.
const (
	DriverDefault = "default"
	DriverTesting = "testing"
)

// Config is the local watchdog section.
type Config struct {
	Mode   string
	Driver string
	Device string
	// SafetyMargin is subtracted from ttl; negative means ttl/2 (Patroni's -1).
	SafetyMargin time.Duration
}

// Timeout is the device timeout Patroni wants, in whole seconds.
func Timeout(ttl, safetyMargin time.Duration) int {
	t := int(ttl / time.Second)
	if safetyMargin < 0 {
		return t / 2
	}
	return t - int(safetyMargin/time.Second)
}

// ErrUnsafe is returned by Activate when the mode is required and no device could be
// configured with a timeout that ends before the lease does.
var ErrUnsafe = errors.New("watchdog required but could not be activated safely")

// Watchdog is the facade the agent drives; safe for concurrent use (the demotion
// worker disables it while the loop may feed it).
type Watchdog struct {
	mu     sync.Mutex
	cfg    Config
	newDev func(Config) Device
	log    *slog.Logger

	dev     Device // open and counting; nil otherwise
	active  bool   // activated for this leadership, whether or not a device runs
	failed  bool   // a required activation failed: unusable until restart
	timeout int    // the timeout in effect on dev
	want    int    // the timeout asked for when it was last set
}

// New returns a watchdog for cfg; newDevice builds the device (nil: by cfg.Driver).
func New(cfg Config, newDevice func(Config) Device, log *slog.Logger) *Watchdog {
	if newDevice == nil {
		newDevice = DeviceFor
	}
	return &Watchdog{cfg: cfg, newDev: newDevice, log: log}
}

// DriverNone is an unknown driver: no device, as Patroni's NullWatchdog.
const DriverNone = "none"

// DeviceFor builds the device cfg names.
func DeviceFor(cfg Config) Device {
	switch cfg.Driver {
	case DriverTesting:
		return NewTesting(cfg.Device)
	case DriverNone:
		return null{}
	}
	return NewLinux(cfg.Device)
}

// null is the device of an unknown driver: it never opens.
type null struct{}

var errNoDriver = errors.New("no watchdog driver")

func (null) Open() error           { return errNoDriver }
func (null) Close() error          { return nil }
func (null) Keepalive() error      { return errNoDriver }
func (null) Info() (Info, error)   { return Info{}, errNoDriver }
func (null) SetTimeout(int) error  { return errNoDriver }
func (null) Timeout() (int, error) { return 0, errNoDriver }
func (null) Describe() string      { return "NullWatchdog" }
func (null) Usable() bool          { return false }

// Enabled: the mode is automatic or required.
func (w *Watchdog) Enabled() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cfg.Mode != ModeOff
}

// SetConfig applies a reloaded watchdog section. Another mode, driver or device closes
// a running device and clears the activation (and an earlier failure), so the primary's
// next cycle activates the new one; a new safety_margin is applied at the next keepalive.
func (w *Watchdog) SetConfig(cfg Config) {
	w.mu.Lock()
	defer w.mu.Unlock()
	old := w.cfg
	w.cfg = cfg
	if cfg.Mode == old.Mode && cfg.Driver == old.Driver && cfg.Device == old.Device {
		return
	}
	w.failed, w.active = false, false
	if w.dev != nil {
		w.closeDev(w.dev)
		w.log.Info(fmt.Sprintf("watchdog configuration changed (mode %s, device %s): the running device was closed", cfg.Mode, cfg.Device))
		w.dev = nil
	}
}

func (w *Watchdog) required() bool { return w.cfg.Mode == ModeRequired }

// Activated: Activate ran since the last Disable (with or without a running device).
func (w *Watchdog) Activated() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.active
}

// Running: a device is open and counting.
func (w *Watchdog) Running() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dev != nil
}

// Healthy is Patroni's is_healthy: always true unless the mode is required; then the
// timing must leave slack for one loop, the device must exist and be writable, and no
// earlier activation may have failed.
func (w *Watchdog) Healthy(ttl, loopWait time.Duration) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.required() {
		return true
	}
	if w.failed || Timeout(ttl, w.cfg.SafetyMargin) < int(loopWait/time.Second) {
		return false
	}
	if w.dev != nil {
		return true
	}
	type usable interface{ Usable() bool }
	u, ok := w.newDev(w.cfg).(usable)
	return !ok || u.Usable()
}

// Activate opens and configures the device. In automatic mode every failure is logged
// and nil returned; in required mode a missing or unsafe device returns ErrUnsafe (and
// the node stays unhealthy until restarted, as in Patroni).
func (w *Watchdog) Activate(ttl, loopWait time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.active = true
	want := Timeout(ttl, w.cfg.SafetyMargin)
	loop := int(loopWait / time.Second)
	var dev Device
	actual := 0
	if want-loop < 0 {
		w.log.Warn(fmt.Sprintf("Watchdog not supported because leader TTL %d is less than 2x loop_wait %d", int(ttl/time.Second), loop))
	} else {
		dev, actual = w.open(want, loop)
	}
	canDisable := true
	if dev != nil {
		if info, err := dev.Info(); err == nil && !info.MagicClose() {
			canDisable = false
			w.log.Warn("Watchdog implementation can't be disabled. Watchdog will trigger after Warden loses leader key.")
		}
	}
	if dev == nil || actual > want {
		if w.required() {
			if dev == nil {
				w.log.Error("Configuration requires watchdog, but watchdog could not be configured.")
			} else {
				w.log.Error(fmt.Sprintf("Configuration requires watchdog, but a safe watchdog timeout %d could not be configured. Watchdog timeout is %d.", want, actual))
				// Patroni keeps such a device open; closing it keeps a node that will
				// never be primary from being reset by it.
				if canDisable {
					w.closeDev(dev)
				}
			}
			w.failed = true
			return ErrUnsafe
		}
		if dev != nil {
			w.log.Warn(fmt.Sprintf("Watchdog timeout %d seconds does not ensure safe termination within %d seconds", actual, want))
		}
	}
	if dev != nil {
		w.dev, w.timeout, w.want = dev, actual, want
		w.log.Info(fmt.Sprintf("%s activated with %d second timeout, timing slack %d seconds", dev.Describe(), actual, want-loop))
	}
	return nil
}

// open opens the device and sets the timeout; nil when it cannot be used (logged).
func (w *Watchdog) open(want, loop int) (Device, int) {
	dev := w.newDev(w.cfg)
	if err := dev.Open(); err != nil {
		w.log.Warn(fmt.Sprintf("Could not activate %s: %v", dev.Describe(), err))
		return nil, 0
	}
	actual, err := setTimeout(dev, want)
	if err != nil {
		w.log.Warn(fmt.Sprintf("Could not activate %s: %v", dev.Describe(), err))
		w.closeDev(dev)
		return nil, 0
	}
	if actual < loop {
		w.log.Error(fmt.Sprintf("loop_wait of %d seconds is too long for watchdog %d second timeout", loop, actual))
		if info, _ := dev.Info(); info.MagicClose() {
			w.log.Info("Disabling watchdog due to unsafe timeout.")
			w.closeDev(dev)
			return nil, 0
		}
	}
	return dev, actual
}

// setTimeout sets the wanted timeout where the device supports it and returns the one
// in effect. A device that cannot even report what it supports is unusable.
func setTimeout(dev Device, want int) (int, error) {
	info, err := dev.Info()
	if err != nil {
		return 0, err
	}
	if info.CanSetTimeout() {
		if err := dev.SetTimeout(want); err != nil {
			return 0, err
		}
	}
	return dev.Timeout()
}

func (w *Watchdog) closeDev(dev Device) {
	if err := dev.Close(); err != nil {
		w.log.Error(fmt.Sprintf("Error while disabling watchdog: %v", err))
	}
}

// Keepalive feeds the running device and applies a changed ttl or safety margin, so
// the timeout stays matched to the lease just refreshed.
func (w *Watchdog) Keepalive(ttl, loopWait time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dev == nil {
		return
	}
	if err := w.dev.Keepalive(); err != nil {
		w.log.Error(fmt.Sprintf("Error while sending keepalive: %v", err))
		return
	}
	want := Timeout(ttl, w.cfg.SafetyMargin)
	if want == w.want {
		return
	}
	actual, err := setTimeout(w.dev, want)
	w.want = want
	if err != nil {
		w.log.Error(fmt.Sprintf("Error while sending keepalive: %v", err))
		return
	}
	w.timeout = actual
	w.log.Info(fmt.Sprintf("%s updated with %d second timeout, timing slack %d seconds", w.dev.Describe(), actual, want-int(loopWait/time.Second)))
}

// Disable stops the device with the magic close; a device that cannot be stopped is
// fed once more, leaving the operator its full timeout before the reset.
func (w *Watchdog) Disable() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.active = false
	dev := w.dev
	if dev == nil {
		return
	}
	w.dev = nil
	if info, err := dev.Info(); err == nil && !info.MagicClose() {
		_ = dev.Keepalive()
		w.log.Warn(fmt.Sprintf("Watchdog implementation can't be disabled. System will reboot after %d seconds when watchdog times out.", w.timeout))
	}
	name := dev.Describe()
	if err := dev.Close(); err != nil {
		w.log.Error(fmt.Sprintf("Error while disabling watchdog: %v", err))
		return
	}
	w.log.Info(fmt.Sprintf("%s disabled (magic close)", name))
}
