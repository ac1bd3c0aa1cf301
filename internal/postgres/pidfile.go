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
)

// PidFile is the part of postmaster.pid Warden uses.
type PidFile struct {
	Pid       int
	DataDir   string
	StartTime int64 // Unix seconds
	Port      int
	SocketDir string // the first of unix_socket_directories; "" when none
	Status    string // "starting", "ready", "stopping", "standby" (PG10+)
}

// ReadPidFile reads <dataDir>/postmaster.pid. A missing file is reported with
// an error satisfying errors.Is(err, os.ErrNotExist).
func ReadPidFile(dataDir string) (PidFile, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return PidFile{}, fmt.Errorf("read postmaster.pid: %w", err)
	}
	lines := strings.Split(string(b), "\n")
	var pf PidFile
	if pf.Pid, err = strconv.Atoi(strings.TrimSpace(lines[0])); err != nil || pf.Pid <= 0 {
		return PidFile{}, fmt.Errorf("postmaster.pid: invalid pid %q", lines[0])
	}
	field := func(i int) string {
		if i < len(lines) {
			return strings.TrimSpace(lines[i])
		}
		return ""
	}
	pf.DataDir = field(1)
	pf.StartTime, _ = strconv.ParseInt(field(2), 10, 64)
	pf.Port, _ = strconv.Atoi(field(3))
	pf.SocketDir = field(4)
	pf.Status = field(7)
	return pf, nil
}

// FindRunning reports the pid of a live postmaster for dataDir according to
// postmaster.pid. A pid file whose process is gone, is not postgres, or was
// started at another time (the pid was reused) does not count.
func FindRunning(dataDir string) (int, bool) {
	pf, err := ReadPidFile(dataDir)
	if err != nil {
		return 0, false
	}
	if !isPostmaster(pf, dataDir) {
		return 0, false
	}
	return pf.Pid, true
}

func isPostmaster(pf PidFile, dataDir string) bool {
	if err := syscall.Kill(pf.Pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pf.Pid))
	if err != nil {
		return false
	}
	argv0, _, _ := bytes.Cut(cmdline, []byte{0})
	// A postmaster rewrites its title only in children, so argv[0] is the
	// binary it was started as.
	if base := filepath.Base(string(argv0)); base != "postgres" && base != "postmaster" {
		return false
	}
	if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pf.Pid)); err == nil && !sameDir(cwd, dataDir) {
		return false
	}
	if start, ok := processStartTime(pf.Pid); ok && pf.StartTime != 0 {
		// Same tolerance as Patroni: the pid file is written a little after exec.
		if d := start - pf.StartTime; d > 3 || d < -3 {
			return false
		}
	}
	return true
}

func sameDir(a, b string) bool {
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	if err1 != nil || err2 != nil {
		return filepath.Clean(a) == filepath.Clean(b)
	}
	return ra == rb
}

// processStartTime derives a process's start (Unix seconds) from
// /proc/<pid>/stat and the boot time in /proc/stat.
func processStartTime(pid int) (int64, bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name may contain spaces and parentheses; fields follow the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	fields := strings.Fields(string(stat[i+1:]))
	// starttime is field 22 overall; fields[0] here is field 3.
	if len(fields) < 20 {
		return 0, false
	}
	ticks, err := strconv.ParseInt(fields[19], 10, 64)
	if err != nil {
		return 0, false
	}
	sys, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(sys), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			boot, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, false
			}
			const clkTck = 100 // USER_HZ on every Linux ABI Go supports
			return boot + ticks/clkTck, true
		}
	}
	return 0, false
}

// RemoveStalePidFile removes postmaster.pid when no live postmaster owns it,
// so PostgreSQL does not refuse to start over a leftover from a crash. It
// reports whether a file was removed.
func RemoveStalePidFile(dataDir string) (bool, error) {
	path := filepath.Join(dataDir, "postmaster.pid")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if pid, ok := FindRunning(dataDir); ok {
		return false, fmt.Errorf("postmaster (pid %d) is still running in %s: %w", pid, dataDir, ErrAlreadyRunning)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("remove stale postmaster.pid: %w", err)
	}
	return true, nil
}

// ErrAlreadyRunning is returned by Start when a live postmaster owns the data directory.
var ErrAlreadyRunning = errors.New("postmaster already running")
