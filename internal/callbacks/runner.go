package callbacks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Action names a callback: its key under postgresql.callbacks and the script's first argument.
type Action string

// The callbacks Patroni defines.
const (
	OnStart      Action = "on_start"
	OnStop       Action = "on_stop"
	OnRestart    Action = "on_restart"
	OnReload     Action = "on_reload"
	OnRoleChange Action = "on_role_change"
)

// DefaultTimeout bounds a callback when Options.Timeout is zero. Patroni has no bound;
// one keeps a hung script from holding the lane (and its VIP actions) forever.
const DefaultTimeout = 60 * time.Second

// maxLine caps one logged output line, so a script writing without newlines cannot grow
// the agent's memory.
const maxLine = 4096

// Options configure a Runner.
type Options struct {
	// Scripts maps an action name (on_start, ...) to its command line as configured.
	Scripts map[string]string
	Scope   string
	// Timeout kills a callback still running after it; zero means DefaultTimeout.
	Timeout time.Duration
	// Env is the scripts' environment before PATRONI_* variables are removed; nil means
	// the agent's own.
	Env []string
}

// Runner starts callbacks. Its methods are safe for concurrent use and never wait for a script.
type Runner struct {
	cmds    map[Action][]string
	scope   string
	timeout time.Duration
	env     []string
	log     *slog.Logger

	mu    sync.Mutex
	lanes map[lane]*proc
	wg    sync.WaitGroup
}

// lane is one of Patroni's two executors: on_reload only replaces on_reload; every other
// callback replaces any other non-reload callback.
type lane int

const (
	laneMain lane = iota
	laneReload
)

func laneOf(a Action) lane {
	if a == OnReload {
		return laneReload
	}
	return laneMain
}

type proc struct {
	action Action
	pid    int
	killed bool // guarded by Runner.mu
}

// New checks every configured command line; an unknown callback name or a line that does
// not split (an unclosed quote) is an error.
func New(opts Options, log *slog.Logger) (*Runner, error) {
	r := &Runner{cmds: map[Action][]string{}, scope: opts.Scope, timeout: opts.Timeout, log: log, lanes: map[lane]*proc{}}
	if r.timeout <= 0 {
		r.timeout = DefaultTimeout
	}
	var errs []error
	for name, line := range opts.Scripts {
		a := Action(name)
		switch a {
		case OnStart, OnStop, OnRestart, OnReload, OnRoleChange:
		default:
			errs = append(errs, fmt.Errorf("postgresql.callbacks.%s: unknown callback", name))
			continue
		}
		argv, err := Split(line)
		if err != nil {
			errs = append(errs, fmt.Errorf("postgresql.callbacks.%s: %w", name, err))
			continue
		}
		if len(argv) > 0 {
			r.cmds[a] = argv
		}
	}
	env := opts.Env
	if env == nil {
		env = os.Environ()
	}
	r.env = stripPatroni(env)
	return r, errors.Join(errs...)
}

// stripPatroni removes PATRONI_* variables: they may carry passwords, and Patroni does
// not pass them on either.
func stripPatroni(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, "PATRONI_") {
			out = append(out, kv)
		}
	}
	return out
}

// Configured reports whether a script is set for the action.
func (r *Runner) Configured(a Action) bool {
	_, ok := r.cmds[a]
	return ok
}

// Run starts the action's script with the role, first killing the callback still running
// in its lane. It returns once the script is started (or failed to start).
func (r *Runner) Run(a Action, role string) {
	argv, ok := r.cmds[a]
	if !ok {
		return
	}
	args := append(slices.Clone(argv), string(a), role, r.scope)
	l := laneOf(a)

	r.mu.Lock()
	defer r.mu.Unlock()
	if prev := r.lanes[l]; prev != nil && !prev.killed {
		r.log.Info("killing the previous callback still running", "callback", prev.action, "pid", prev.pid, "replaced_by", a)
		prev.killed = true
		killGroup(prev.pid)
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = r.env
	// Its own process group, so the script's children die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { killGroup(cmd.Process.Pid); return nil }
	cmd.WaitDelay = time.Second
	out := &lineLog{log: r.log, msg: "callback output", attrs: []any{"callback", a}}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		r.log.Error("callback failed to start", "callback", a, "cmd", strings.Join(args, " "), "err", err)
		return
	}
	p := &proc{action: a, pid: cmd.Process.Pid}
	r.lanes[l] = p
	r.log.Info("callback started", "callback", a, "cmd", strings.Join(args, " "), "pid", p.pid)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		err := cmd.Wait()
		timedOut := errors.Is(ctx.Err(), context.DeadlineExceeded)
		cancel()
		out.flush()
		r.mu.Lock()
		killed := p.killed
		if r.lanes[l] == p {
			delete(r.lanes, l)
		}
		r.mu.Unlock()
		switch {
		case timedOut:
			r.log.Warn("callback timed out and was killed", "callback", a, "pid", p.pid, "timeout", r.timeout)
		case killed:
			r.log.Info("callback killed", "callback", a, "pid", p.pid)
		case err != nil:
			r.log.Warn("callback failed", "callback", a, "pid", p.pid, "err", err)
		default:
			r.log.Info("callback finished", "callback", a, "pid", p.pid)
		}
	}()
}

// Wait waits until every started callback has exited.
func (r *Runner) Wait() { r.wg.Wait() }

func killGroup(pid int) {
	if pid > 0 {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}

// lineLog logs a script's output line by line under msg; stdout and stderr share it
// (exec then serialises the writes). Every text in hide is replaced by ***.
type lineLog struct {
	log   *slog.Logger
	msg   string
	attrs []any
	hide  []string
	buf   []byte
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.emit(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
	for len(l.buf) >= maxLine {
		l.emit(l.buf[:maxLine])
		l.buf = l.buf[maxLine:]
	}
	return len(p), nil
}

func (l *lineLog) flush() {
	if len(l.buf) > 0 {
		l.emit(l.buf)
		l.buf = nil
	}
}

func (l *lineLog) emit(line []byte) {
	text := string(bytes.TrimRight(line, "\r"))
	for _, h := range l.hide {
		if h != "" {
			text = strings.ReplaceAll(text, h, "***")
		}
	}
	l.log.Info(l.msg, append(slices.Clip(l.attrs), "line", text)...)
}
