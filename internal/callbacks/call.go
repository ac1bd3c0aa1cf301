package callbacks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"syscall"
	"time"
)

// Script is a command Warden waits for: pre_promote, before_stop, a custom replica
// creation method.
type Script struct {
	// Name says what runs, in log lines ("pre_promote", "replica method wal_g").
	Name string
	Argv []string
	// Env is the whole environment of the script.
	Env []string
	// Timeout kills the script still running after it; zero: only the context bounds it.
	Timeout time.Duration
	// Credential runs it as another OS user; nil: the agent's own.
	Credential *syscall.Credential
	// Hide lists texts (passwords) replaced by *** in the logged output.
	Hide []string
}

// Call runs the script to completion in its own process group, logging its output line
// by line, and returns its exit code. The group is killed when ctx ends or the timeout
// passes; the code is then -1 and err says why. err is nil whenever the script exited.
func Call(ctx context.Context, s Script, log *slog.Logger) (int, error) {
	if len(s.Argv) == 0 {
		return -1, fmt.Errorf("%s: empty command", s.Name)
	}
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.Timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, s.Argv[0], s.Argv[1:]...)
	cmd.Env = s.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: s.Credential}
	cmd.Cancel = func() error { killGroup(cmd.Process.Pid); return nil }
	cmd.WaitDelay = time.Second
	out := &lineLog{log: log, msg: s.Name + " output", hide: s.Hide}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	out.flush()
	if ctx.Err() != nil {
		return -1, fmt.Errorf("%s: %w", s.Name, ctx.Err())
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.Exited() {
		return exit.ExitCode(), nil
	}
	if err != nil {
		return -1, fmt.Errorf("%s: %w", s.Name, err)
	}
	return 0, nil
}
