// Package fence is Warden's hardware-free watchdog. A small process, separate from the
// agent, holds a deadline the agent's HA loop pushes forward each time it refreshes the
// leader lease. If the deadline passes — the agent froze (SIGSTOP, a stuck disk, a
// runaway GC) or died — the fence stops PostgreSQL in immediate mode, before the lease
// can expire and another node be promoted. Freezing the agent does not freeze the
// fence, so a primary whose agent stopped deciding cannot keep accepting writes. A
// watchdog device (internal/watchdog), where one exists, is fed by the same refresh and
// resets the whole machine; the fence is what remains on machines without one.
//
// Protocol on the fence's stdin, one command per line: "arm <milliseconds>" sets the
// deadline that many milliseconds after the line is read (the monotonic clock of the
// fence, so wall-clock steps do not matter); "disarm" clears it. After firing the fence
// keeps serving the agent: once it resumes and its node is primary again (a new
// postmaster), it arms the fence anew. End of input means the agent is gone: an armed
// deadline still fires, then the fence exits.
package fence

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Actions are what the fence does: OnArm notes the postmaster to guard (called on every
// arm), Stop stops it at once (immediate mode) when the deadline passes.
type Actions struct {
	OnArm func()
	Stop  func() error
}

type command struct {
	arm   bool
	after time.Duration
}

func parse(line string) (command, error) {
	f := strings.Fields(line)
	switch {
	case len(f) == 1 && f[0] == "disarm":
		return command{}, nil
	case len(f) == 2 && f[0] == "arm":
		ms, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || ms < 0 {
			return command{}, fmt.Errorf("bad arm delay %q", f[1])
		}
		return command{arm: true, after: time.Duration(ms) * time.Millisecond}, nil
	}
	return command{}, fmt.Errorf("unknown fence command %q", line)
}

// Run reads commands from in until end of input, and calls stop each time an armed
// deadline passes. It returns at end of input once nothing is armed, or after the stop
// of a deadline armed before the end of input.
func Run(in io.Reader, act Actions, log *slog.Logger) error {
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var timer *time.Timer
	var fire <-chan time.Time
	disarm := func() {
		if timer != nil {
			timer.Stop()
		}
		timer, fire = nil, nil
	}
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				if fire == nil {
					return nil
				}
				log.Warn("the agent is gone while the fence is armed: waiting for the deadline")
				lines = nil
				continue
			}
			cmd, err := parse(line)
			if err != nil {
				log.Error("fence", "err", err)
				continue
			}
			disarm()
			if cmd.arm {
				if act.OnArm != nil {
					act.OnArm()
				}
				timer = time.NewTimer(cmd.after)
				fire = timer.C
			}
		case <-fire:
			log.Error("fence deadline passed without a lease refresh from the agent: stopping PostgreSQL (immediate) before the leader lease can expire")
			err := act.Stop()
			disarm()
			if lines == nil {
				return err
			}
			if err != nil {
				log.Error("fence", "err", err)
			}
		}
	}
}
