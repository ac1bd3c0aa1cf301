package watchdog

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// DefaultDevice is the device Warden opens unless watchdog.device says otherwise.
const DefaultDevice = "/dev/watchdog"

// Device is one watchdog device. Opening it starts the countdown; every Keepalive
// restarts it; Close writes the magic character 'V' first, so a device that supports
// magic close stops counting instead of resetting the machine.
type Device interface {
	Open() error
	Close() error
	Keepalive() error
	// Info is WDIOC_GETSUPPORT: what the device can do.
	Info() (Info, error)
	// SetTimeout is WDIOC_SETTIMEOUT, in seconds.
	SetTimeout(seconds int) error
	// Timeout is WDIOC_GETTIMEOUT: the timeout in effect, in seconds.
	Timeout() (int, error)
	Describe() string
}

// Info is the kernel's struct watchdog_info.
type Info struct {
	Options  uint32
	Firmware uint32
	Identity string
}

// CanSetTimeout: WDIOF_SETTIMEOUT.
func (i Info) CanSetTimeout() bool { return i.Options&unix.WDIOF_SETTIMEOUT != 0 }

// MagicClose: WDIOF_MAGICCLOSE, the device stops when 'V' is written before close.
func (i Info) MagicClose() bool { return i.Options&unix.WDIOF_MAGICCLOSE != 0 }

// Linux is a Linux watchdog device (/dev/watchdog): ioctls for support and timeouts,
// keepalive and magic close by write, as Patroni's LinuxWatchdogDevice does.
type Linux struct {
	Path string
	fd   int
	info *Info
}

// NewLinux returns the device at path, not yet opened.
func NewLinux(path string) *Linux { return &Linux{Path: path, fd: -1} }

// Open opens the device write-only. O_NONBLOCK: a device file that blocks (a FIFO
// without a reader) must not hang the HA loop; watchdog drivers ignore the flag.
func (d *Linux) Open() error {
	fd, err := unix.Open(d.Path, unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("can't open watchdog device: %w", err)
	}
	d.fd, d.info = fd, nil
	return nil
}

func (d *Linux) write(b string) error {
	if d.fd < 0 {
		return errors.New("watchdog device is closed")
	}
	_, err := unix.Write(d.fd, []byte(b))
	return err
}

// Close writes the magic 'V' and closes the device.
func (d *Linux) Close() error {
	if d.fd < 0 {
		return nil
	}
	err := d.write("V")
	if cerr := unix.Close(d.fd); err == nil {
		err = cerr
	}
	d.fd = -1
	if err != nil {
		return fmt.Errorf("error while closing %s: %w", d.Describe(), err)
	}
	return nil
}

// Keepalive writes one byte, as Patroni does (any write but 'V' feeds the device).
func (d *Linux) Keepalive() error {
	if err := d.write("1"); err != nil {
		return fmt.Errorf("could not send watchdog keepalive: %w", err)
	}
	return nil
}

func (d *Linux) Info() (Info, error) {
	if d.info != nil {
		return *d.info, nil
	}
	if d.fd < 0 {
		return Info{}, errors.New("could not get information about watchdog device: watchdog device is closed")
	}
	wi, err := unix.IoctlGetWatchdogInfo(d.fd)
	if err != nil {
		return Info{}, fmt.Errorf("could not get information about watchdog device: %w", err)
	}
	id := wi.Identity[:]
	for i, c := range id {
		if c == 0 {
			id = id[:i]
			break
		}
	}
	d.info = &Info{Options: wi.Options, Firmware: wi.Version, Identity: string(id)}
	return *d.info, nil
}

func (d *Linux) SetTimeout(seconds int) error {
	if seconds <= 0 || seconds >= 0xFFFF {
		return fmt.Errorf("invalid timeout %d. Supported values are between 1 and 65535", seconds)
	}
	if d.fd < 0 {
		return errors.New("could not set timeout on watchdog device: watchdog device is closed")
	}
	if err := unix.IoctlSetPointerInt(d.fd, unix.WDIOC_SETTIMEOUT, seconds); err != nil {
		return fmt.Errorf("could not set timeout on watchdog device: %w", err)
	}
	return nil
}

func (d *Linux) Timeout() (int, error) {
	if d.fd < 0 {
		return 0, errors.New("could not get timeout on watchdog device: watchdog device is closed")
	}
	t, err := unix.IoctlGetInt(d.fd, unix.WDIOC_GETTIMEOUT)
	if err != nil {
		return 0, fmt.Errorf("could not get timeout on watchdog device: %w", err)
	}
	return t, nil
}

// Describe is the device's identity, firmware and path, in Patroni's words.
func (d *Linux) Describe() string {
	identity, ver := "Linux watchdog device", ""
	if d.fd >= 0 {
		if i, err := d.Info(); err == nil {
			identity = i.Identity
			if i.Firmware != 0 {
				ver = fmt.Sprintf(" (firmware %d)", i.Firmware)
			}
		}
	}
	at := ""
	if d.Path != DefaultDevice {
		at = " at " + d.Path
	}
	return identity + ver + at
}

// Usable is Patroni's is_healthy for the device: it exists and is writable.
func (d *Linux) Usable() bool { return unix.Access(d.Path, unix.W_OK) == nil }

// Testing is Patroni's test-harness driver (watchdog.driver: testing): a Linux device
// path, usually a FIFO, whose timeout ioctls become writes ("Ctimeout=<n>\n") that a
// test can read next to the keepalives ('1') and the magic close ('V').
type Testing struct {
	*Linux
	timeout int
}

// NewTesting returns the harness device at path.
func NewTesting(path string) *Testing { return &Testing{Linux: NewLinux(path), timeout: 60} }

func (d *Testing) Info() (Info, error) {
	return Info{Options: unix.WDIOF_MAGICCLOSE | unix.WDIOF_SETTIMEOUT, Identity: "Watchdog test harness"}, nil
}

func (d *Testing) SetTimeout(seconds int) error {
	if err := d.write(fmt.Sprintf("Ctimeout=%d\n", seconds)); err != nil {
		return fmt.Errorf("could not set timeout on watchdog device: %w", err)
	}
	d.timeout = seconds
	return nil
}

func (d *Testing) Timeout() (int, error) { return d.timeout, nil }

func (d *Testing) Describe() string {
	at := ""
	if d.Path != DefaultDevice {
		at = " at " + d.Path
	}
	return "Watchdog test harness" + at
}
