package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Command is one external program invocation. Passwords never go in Args:
// pass them through a pgpass or pwfile named here or in Env. What libpq can only
// take in a connection string (sslpassword) is listed in Hide.
type Command struct {
	Path string
	Args []string
	// Hide lists texts in Args replaced by *** wherever the command is shown.
	Hide    []string
	Env     []string // KEY=VALUE added to the filtered environment
	Stdin   io.Reader
	Timeout time.Duration // 0: only the context bounds it
}

func (c Command) String() string {
	s := strings.Join(append([]string{filepath.Base(c.Path)}, c.Args...), " ")
	for _, h := range c.Hide {
		if h != "" {
			s = strings.ReplaceAll(s, h, "***")
		}
	}
	return s
}

// Runner runs a command to completion and returns its standard output.
type Runner interface {
	Run(ctx context.Context, c Command) ([]byte, error)
}

// ExecError is a command that failed to run or exited non-zero.
type ExecError struct {
	Cmd      string
	ExitCode int    // -1 when it did not exit normally (signal, failed to start)
	Stderr   string // the last lines
	Err      error
}

func (e *ExecError) Error() string {
	msg := fmt.Sprintf("%s: exit code %d", e.Cmd, e.ExitCode)
	if e.Err != nil && e.ExitCode < 0 {
		msg = fmt.Sprintf("%s: %v", e.Cmd, e.Err)
	}
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

func (e *ExecError) Unwrap() error { return e.Err }

const stderrTailLines = 10

// ExecRunner runs commands with os/exec. Cancellation (context or Timeout)
// sends SIGTERM so PostgreSQL tools clean up, then SIGKILL after KillDelay.
type ExecRunner struct {
	Log *slog.Logger
	// Credential, when set, runs commands as another user (tests run as root
	// but PostgreSQL refuses to).
	Credential *syscall.Credential
	KillDelay  time.Duration // default 10s
}

// Run implements Runner.
func (r ExecRunner) Run(ctx context.Context, c Command) ([]byte, error) {
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, c.Path, c.Args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = r.KillDelay
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = 10 * time.Second
	}
	cmd.Env = append(FilterEnv(os.Environ()), c.Env...)
	cmd.Stdin = c.Stdin
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.Credential}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	name := filepath.Base(c.Path)
	for _, line := range strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n") {
		if line != "" {
			r.Log.Info(name+": "+line, "elapsed", time.Since(start).Round(time.Millisecond))
		}
	}
	if err != nil {
		ee := &ExecError{Cmd: c.String(), ExitCode: -1, Stderr: tail(stderr.String(), stderrTailLines), Err: err}
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.Exited() {
			ee.ExitCode = exit.ExitCode()
		}
		if ctx.Err() != nil {
			ee.Err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return stdout.Bytes(), ee
	}
	return stdout.Bytes(), nil
}

// FilterEnv drops PATRONI_* variables (they carry credentials and must not
// reach PostgreSQL tools) and libpq variables Warden sets itself.
func FilterEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "PATRONI_"), strings.HasPrefix(name, "WARDEN_"),
			name == "PGPASSFILE", name == "PGPASSWORD", name == "PGOPTIONS":
			continue
		}
		out = append(out, kv)
	}
	return out
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
