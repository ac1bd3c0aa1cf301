package fence

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/warden-ha/warden/internal/postgres"
)

// Process is the running fence as the agent sees it: a child process fed through a pipe.
type Process struct {
	mu    sync.Mutex
	cmd   *exec.Cmd
	in    io.WriteCloser
	armed bool
}

// Start runs `<exe> fence --data-dir <dataDir>` in its own process group, so signals
// aimed at the agent do not reach it.
func Start(exe, dataDir string, stderr io.Writer) (*Process, error) {
	cmd := exec.Command(exe, "fence", "--data-dir", dataDir)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("fence: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start fence process: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	return &Process{cmd: cmd, in: in}, nil
}

// Arm sets the deadline d from now.
func (p *Process) Arm(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := io.WriteString(p.in, "arm "+strconv.FormatInt(max(d, 0).Milliseconds(), 10)+"\n"); err == nil {
		p.armed = true
	}
}

// Disarm clears the deadline.
func (p *Process) Disarm() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.armed {
		return
	}
	if _, err := io.WriteString(p.in, "disarm\n"); err == nil {
		p.armed = false
	}
}

// Close disarms and ends the fence (end of input).
func (p *Process) Close() error {
	p.Disarm()
	return p.in.Close()
}

// Pid is the fence process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// StopPostgres is the fence's action: SIGQUIT (immediate shutdown) to the postmaster
// found in postmaster.pid, resumed if it was stopped, then SIGKILL to it and every
// process it forked (postgres.KillPostmaster) if it has not exited within two seconds.
func StopPostgres(pid int) error {
	if pid <= 0 {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGQUIT)
	_ = syscall.Kill(pid, syscall.SIGCONT)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if !running(pid) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	postgres.KillPostmaster(pid)
	return nil
}

// running: the process exists and is not a zombie.
func running(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ')' {
			return i+2 < len(s) && s[i+2] != 'Z'
		}
	}
	return false
}
