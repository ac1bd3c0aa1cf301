package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/sys/unix"
)

// StopMode is how PostgreSQL is asked to shut down.
type StopMode int

// Stop modes, as pg_ctl names them.
const (
	StopSmart     StopMode = iota // SIGTERM: wait for clients to leave
	StopFast                      // SIGINT: disconnect clients, clean shutdown
	StopImmediate                 // SIGQUIT: no shutdown checkpoint, crash recovery on next start
)

func (m StopMode) String() string {
	return [...]string{"smart", "fast", "immediate"}[m]
}

func (m StopMode) signal() syscall.Signal {
	return [...]syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT}[m]
}

// StartOptions describe one postmaster start.
type StartOptions struct {
	BinDir     string // empty: PATH
	DataDir    string
	ConfigFile string
	// Options are "--name=value" arguments (pgconf.CommandLineOptions).
	Options []string
	// ReadyConnString is used by WaitReady to probe the server, e.g.
	// "host=127.0.0.1 port=5432 user=postgres dbname=postgres".
	ReadyConnString string
	Credential      *syscall.Credential
	Log             *slog.Logger
	// Output receives the server's stdout and stderr (the agent's stderr when nil).
	Output *os.File
}

// Postmaster is one PostgreSQL server process: either our child, started in
// its own session so signals aimed at the agent do not reach it, or one a
// previous agent run started (adopted). Exited is closed the moment it ends.
type Postmaster struct {
	pid      int
	dataDir  string
	readyDSN string
	adopted  bool
	log      *slog.Logger

	exited  chan struct{}
	mu      sync.Mutex
	exitErr error
}

// Start runs `postgres -D <data> --config-file=<conf> --name=value...` as a
// child process. A stale postmaster.pid is removed first; a live one makes
// Start fail with ErrAlreadyRunning.
func Start(ctx context.Context, o StartOptions) (*Postmaster, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start postmaster: %w", err)
	}
	log := o.Log
	if removed, err := RemoveStalePidFile(o.DataDir); err != nil {
		return nil, fmt.Errorf("start postmaster: %w", err)
	} else if removed {
		log.Warn("removed stale postmaster.pid", "data_dir", o.DataDir)
	}
	bin := "postgres"
	if o.BinDir != "" {
		bin = filepath.Join(o.BinDir, "postgres")
	}
	args := []string{"-D", o.DataDir}
	if o.ConfigFile != "" {
		args = append(args, "--config-file="+o.ConfigFile)
	}
	args = append(args, o.Options...)
	// Not CommandContext: the server must outlive the request that started it.
	cmd := exec.Command(bin, args...)
	cmd.Env = append(FilterEnv(os.Environ()), "LC_ALL=C")
	cmd.Dir = o.DataDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: o.Credential}
	// A file, not a pipe the agent reads: PostgreSQL writes its log straight to it, so
	// a stopped or stuck agent can never block a backend that logs, and exec starts no
	// copying goroutine that Wait would have to wait for.
	out := o.Output
	if out == nil {
		out = os.Stderr
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start postmaster: %w", err)
	}
	p := newPostmaster(cmd.Process.Pid, o, false)
	go func() {
		err := cmd.Wait()
		p.finish(err)
	}()
	log.Info("postmaster started", "pid", p.pid, "args", args)
	return p, nil
}

// Adopt monitors a postmaster this process did not start (found with
// FindRunning). Its exit is seen through a pidfd, as promptly as a child's.
func Adopt(pid int, o StartOptions) (*Postmaster, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("adopt postmaster %d: pidfd_open: %w", pid, err)
	}
	p := newPostmaster(pid, o, true)
	go func() {
		defer unix.Close(fd)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			if _, err := unix.Poll(fds, -1); err != nil {
				if errors.Is(err, unix.EINTR) {
					continue
				}
				p.finish(fmt.Errorf("poll pidfd: %w", err))
				return
			}
			// Not our child: the exit status belongs to its real parent.
			p.finish(nil)
			return
		}
	}()
	o.Log.Info("adopted running postmaster", "pid", pid, "data_dir", o.DataDir)
	return p, nil
}

func newPostmaster(pid int, o StartOptions, adopted bool) *Postmaster {
	return &Postmaster{pid: pid, dataDir: o.DataDir, readyDSN: o.ReadyConnString, adopted: adopted,
		log: o.Log, exited: make(chan struct{})}
}

func (p *Postmaster) finish(err error) {
	p.mu.Lock()
	p.exitErr = err
	p.mu.Unlock()
	close(p.exited)
	p.log.Info("postmaster exited", "pid", p.pid, "status", exitStatus(err))
}

func exitStatus(err error) string {
	if err == nil {
		return "exit 0"
	}
	return err.Error()
}

// Pid is the postmaster's process id.
func (p *Postmaster) Pid() int { return p.pid }

// Adopted reports whether the process was started by an earlier agent run.
func (p *Postmaster) Adopted() bool { return p.adopted }

// Exited is closed when the postmaster process has ended.
func (p *Postmaster) Exited() <-chan struct{} { return p.exited }

// ExitErr is the exit status once Exited is closed: nil for exit 0 (or
// for an adopted process, whose status only its parent can read), an
// *exec.ExitError otherwise.
func (p *Postmaster) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitErr
}

// ErrExited is returned by WaitReady when the postmaster ended during start-up.
var ErrExited = errors.New("postmaster exited")

// WaitReady waits until the server accepts connections, the postmaster
// exits, or ctx ends. A connection refused or "starting up" rejection means
// not yet; any answer from a running server (even an authentication
// failure) means ready, as pg_isready judges it.
func (p *Postmaster) WaitReady(ctx context.Context) error {
	cfg, err := pgx.ParseConfig(p.readyDSN)
	if err != nil {
		return fmt.Errorf("wait ready: %w", err)
	}
	cfg.ConnectTimeout = time.Second
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if ready(ctx, cfg) {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("wait ready: %w: %s", ErrExited, exitStatus(p.ExitErr()))
		case <-ctx.Done():
			return fmt.Errorf("wait ready: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

func ready(ctx context.Context, cfg *pgx.ConnConfig) bool {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		conn.Close(ctx)
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// 57P03 cannot_connect_now: starting up, shutting down or in crash recovery.
		return pgErr.Code != "57P03"
	}
	return false
}

// Stop signals the postmaster according to mode and waits for it to exit.
// If ctx ends first the whole process group (postmaster and backends) is
// killed with SIGKILL, as Patroni does after its stop timeout.
func (p *Postmaster) Stop(ctx context.Context, mode StopMode) error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	if err := syscall.Kill(p.pid, mode.signal()); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop postmaster (%s): %w", mode, err)
	}
	// A stopped (SIGSTOP) postmaster would hold the signal until resumed.
	_ = syscall.Kill(p.pid, syscall.SIGCONT)
	p.log.Info("stopping postmaster", "pid", p.pid, "mode", mode.String())
	select {
	case <-p.exited:
		return nil
	case <-ctx.Done():
	}
	p.kill()
	// SIGKILL cannot be ignored; a bounded wait only guards against a
	// process stuck in uninterruptible sleep.
	grace := time.NewTimer(10 * time.Second)
	defer grace.Stop()
	select {
	case <-p.exited:
		// Stopped is what the caller needs; how is only worth a warning.
		p.log.Warn("postmaster did not stop in time and was killed", "pid", p.pid, "mode", mode.String())
		return nil
	case <-grace.C:
		return fmt.Errorf("stop postmaster (%s): still running after SIGKILL", mode)
	}
}

func (p *Postmaster) kill() {
	p.log.Warn("killing postmaster process group", "pid", p.pid)
	KillPostmaster(p.pid)
}

// KillPostmaster SIGKILLs a postmaster and every process it forked. Each backend calls
// setsid(), so neither the postmaster's group nor its session holds them: the
// postmaster is stopped first (no more forks), then its children are killed, then it.
// A backend left behind, stopped or stuck, could commit after a new primary is up, and
// holds the shared memory a new postmaster needs.
func KillPostmaster(pid int) {
	_ = syscall.Kill(pid, syscall.SIGSTOP)
	for _, c := range children(pid) {
		_ = syscall.Kill(c, syscall.SIGKILL)
	}
	if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// children lists the processes whose parent is pid, from /proc.
func children(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name in parentheses may hold spaces: fields start after ')'.
		i := bytes.LastIndexByte(b, ')')
		if f := strings.Fields(string(b[i+1:])); i >= 0 && len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, c)
		}
	}
	return out
}
