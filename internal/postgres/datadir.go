package postgres

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/warden-ha/warden/internal/postgres/pgconf"
)

// DataDir writes the files Warden owns in a data and config directory.
// Every write is atomic (temp file, fsync, rename, fsync directory) and
// reports whether the content changed, so callers reload only then.
type DataDir struct {
	Path      string
	ConfigDir string // empty: Path
	// Owner, when set, owns written files (tests run as root, PostgreSQL as postgres).
	Owner *syscall.Credential
}

func (d DataDir) configDir() string {
	if d.ConfigDir != "" {
		return d.ConfigDir
	}
	return d.Path
}

// ConfFile is the path of postgresql.conf.
func (d DataDir) ConfFile() string { return filepath.Join(d.configDir(), "postgresql.conf") }

// HBAFile is the path of pg_hba.conf.
func (d DataDir) HBAFile() string { return filepath.Join(d.configDir(), "pg_hba.conf") }

// IdentFile is the path of pg_ident.conf.
func (d DataDir) IdentFile() string { return filepath.Join(d.configDir(), "pg_ident.conf") }

// IsEmpty reports whether the data directory is missing or has no entries.
func (d DataDir) IsEmpty() (bool, error) {
	entries, err := os.ReadDir(d.Path)
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("read data directory: %w", err)
	}
	return len(entries) == 0, nil
}

// EnsureMode makes the data directory exist with mode 0700, or keeps 0750 (a cluster
// initialised with group access, initdb -g): the two modes PostgreSQL accepts.
func (d DataDir) EnsureMode() error {
	if err := os.MkdirAll(d.Path, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	mode := os.FileMode(0o700)
	if d.groupAccess() {
		mode = 0o750
	}
	if err := os.Chmod(d.Path, mode); err != nil {
		return fmt.Errorf("chmod data directory: %w", err)
	}
	return chown(d.Path, d.Owner)
}

// groupAccess reports whether the data directory is 0750: then, as PostgreSQL does for
// its own files, the files Warden writes there are group-readable (Patroni 3.1), so
// backup tools running as another user of the group can read them.
func (d DataDir) groupAccess() bool {
	st, err := os.Stat(d.Path)
	return err == nil && st.Mode().Perm() == 0o750
}

// fileMode is mode with group read added for a file inside the data or config
// directory of a cluster with group access.
func (d DataDir) fileMode(path string, mode os.FileMode) os.FileMode {
	dir := filepath.Dir(path)
	inside := func(root string) bool {
		rel, err := filepath.Rel(root, dir)
		return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
	}
	if mode == 0o600 && (inside(d.Path) || inside(d.configDir())) && d.groupAccess() {
		return 0o640
	}
	return mode
}

// Config is what WriteConfig puts on disk.
type Config struct {
	Conf pgconf.ConfParams
	// HBA and Ident replace pg_hba.conf / pg_ident.conf when non-nil.
	HBA   []string
	Ident []string
	// Standby creates standby.signal (PG12+); otherwise it and
	// recovery.signal are removed.
	Standby bool
	// CustomConf set means the user's file is included and the original
	// postgresql.conf is left alone.
	CustomConf bool
	// KeepRecoveryFiles leaves the signal files alone (Standby is ignored): a
	// custom bootstrap decides them itself.
	KeepRecoveryFiles bool
}

// WriteConfig renders and writes postgresql.conf, pg_hba.conf, pg_ident.conf
// and the standby signal. On the first call the original postgresql.conf is
// renamed to postgresql.base.conf, which the rendered file includes.
func (d DataDir) WriteConfig(c Config) (bool, error) {
	if !c.CustomConf {
		if err := d.preserveBaseConf(); err != nil {
			return false, err
		}
	}
	if c.Conf.HBAFile == "" {
		c.Conf.HBAFile = d.HBAFile()
	}
	if c.Conf.IdentFile == "" {
		c.Conf.IdentFile = d.IdentFile()
	}
	conf, err := pgconf.RenderConf(c.Conf)
	if err != nil {
		return false, fmt.Errorf("render postgresql.conf: %w", err)
	}
	changed, err := d.WriteFile(d.ConfFile(), conf, 0o600)
	if err != nil {
		return false, err
	}
	for _, f := range []struct {
		lines []string
		path  string
	}{{c.HBA, d.HBAFile()}, {c.Ident, d.IdentFile()}} {
		if f.lines == nil {
			continue
		}
		ch, err := d.WriteFile(f.path, pgconf.RenderHBA(f.lines), 0o600)
		if err != nil {
			return false, err
		}
		changed = changed || ch
	}
	if c.KeepRecoveryFiles {
		return changed, nil
	}
	ch, err := d.SetStandby(c.Standby)
	return changed || ch, err
}

func (d DataDir) preserveBaseConf() error {
	base := filepath.Join(d.configDir(), pgconf.BaseConf)
	if _, err := os.Stat(base); err == nil {
		return nil
	}
	if err := os.Rename(d.ConfFile(), base); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("preserve original postgresql.conf: %w", err)
	}
	return syncDir(d.configDir())
}

// SetStandby creates or removes standby.signal (and removes recovery.signal
// when not a standby).
func (d DataDir) SetStandby(standby bool) (bool, error) {
	sig := filepath.Join(d.Path, "standby.signal")
	if standby {
		return d.WriteFile(sig, nil, 0o600)
	}
	changed := false
	for _, name := range []string{"standby.signal", "recovery.signal"} {
		err := os.Remove(filepath.Join(d.Path, name))
		switch {
		case err == nil:
			changed = true
		case !errors.Is(err, os.ErrNotExist):
			return false, fmt.Errorf("remove %s: %w", name, err)
		}
	}
	if changed {
		return true, syncDir(d.Path)
	}
	return false, nil
}

// RemoveRecoveryFiles removes recovery.conf, standby.signal and recovery.signal.
func (d DataDir) RemoveRecoveryFiles() error {
	for _, name := range []string{"recovery.conf", "standby.signal", "recovery.signal"} {
		if err := os.Remove(filepath.Join(d.Path, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", name, err)
		}
	}
	return syncDir(d.Path)
}

// SanitizeAutoConf removes recovery parameters from postgresql.auto.conf
// (PG12+): an ALTER SYSTEM'd primary_conninfo would otherwise silently
// override the one Warden writes.
func (d DataDir) SanitizeAutoConf() (bool, error) {
	path := filepath.Join(d.Path, "postgresql.auto.conf")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read postgresql.auto.conf: %w", err)
	}
	var out []string
	for _, line := range strings.SplitAfter(string(b), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), "=")
		if pgconf.IsRecoveryParameter(strings.TrimSpace(name)) {
			continue
		}
		out = append(out, line)
	}
	return d.WriteFile(path, []byte(strings.Join(out, "")), 0o600)
}

// WritePgpass writes the password file, 0600 wherever it is.
func (d DataDir) WritePgpass(path string, entries []pgconf.PgpassEntry) (bool, error) {
	b, err := pgconf.RenderPgpass(entries)
	if err != nil {
		return false, fmt.Errorf("render pgpass: %w", err)
	}
	return d.writeFile(path, b, 0o600)
}

// WriteFile atomically replaces path with content unless it already holds
// exactly that content (and mode), and reports whether it wrote. A 0600 file inside
// the data or config directory of a cluster with group access is written 0640.
func (d DataDir) WriteFile(path string, content []byte, mode os.FileMode) (bool, error) {
	return d.writeFile(path, content, d.fileMode(path, mode))
}

func (d DataDir) writeFile(path string, content []byte, mode os.FileMode) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, content) {
		if st, err := os.Stat(path); err == nil && st.Mode().Perm() == mode {
			return false, nil
		}
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(content); err != nil {
		tmp.Close()
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, fmt.Errorf("write %s: fsync: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	if err := chown(tmp.Name(), d.Owner); err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return false, err
	}
	return true, nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// InstallSlot puts a replication slot's state file, copied from another server of the
// same cluster, into pg_replslot/<name> while PostgreSQL is stopped: written under
// <name>.tmp (which PostgreSQL removes at start-up if it finds one) and renamed over
// any older copy, fsynced at each step.
func (d DataDir) InstallSlot(name string, state []byte) error {
	base := filepath.Join(d.Path, "pg_replslot")
	dst := filepath.Join(base, name)
	tmp := dst + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("install slot %s: %w", name, err)
	}
	mode := os.FileMode(0o700)
	if d.groupAccess() {
		mode = 0o750
	}
	if err := os.Mkdir(tmp, mode); err != nil {
		return fmt.Errorf("install slot %s: %w", name, err)
	}
	if err := chown(tmp, d.Owner); err != nil {
		return fmt.Errorf("install slot %s: %w", name, err)
	}
	if _, err := d.WriteFile(filepath.Join(tmp, "state"), state, 0o600); err != nil {
		return fmt.Errorf("install slot %s: %w", name, err)
	}
	if err := os.RemoveAll(dst); err != nil {
		return fmt.Errorf("install slot %s: %w", name, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("install slot %s: %w", name, err)
	}
	if err := syncDir(dst); err != nil {
		return err
	}
	return syncDir(base)
}

// Major is the major version the data directory was created by, from its PG_VERSION
// ("15", or "9.6" read as 9); 0 when the directory holds no cluster yet.
func (d DataDir) Major() (int, error) {
	b, err := os.ReadFile(filepath.Join(d.Path, "PG_VERSION"))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read PG_VERSION: %w", err)
	}
	v := strings.TrimSpace(string(b))
	major, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(major)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s: PG_VERSION holds %q, not a PostgreSQL version", d.Path, v)
	}
	return n, nil
}
