package pgconf

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/warden-ha/warden/internal/cluster"
)

// Cluster states as pg_controldata prints them.
const (
	StateInProduction       = "in production"
	StateShutDown           = "shut down"
	StateShutDownInRecovery = "shut down in recovery"
	StateShuttingDown       = "shutting down"
	StateInArchiveRecovery  = "in archive recovery"
	StateInCrashRecovery    = "in crash recovery"
	StateStartingUp         = "starting up"
)

// ControlData is the part of pg_controldata's output Warden decides on.
type ControlData struct {
	SysID                  string
	State                  string
	Timeline               int    // Latest checkpoint's TimeLineID
	CheckpointLSN          uint64 // Latest checkpoint location
	MinRecoveryEndLSN      uint64
	MinRecoveryEndTimeline int
	WALLogHints            bool
	DataChecksums          bool
	Raw                    map[string]string
}

// InRecovery reports whether the cluster was last a standby.
func (c ControlData) InRecovery() bool {
	return c.State == StateShutDownInRecovery || c.State == StateInArchiveRecovery
}

// CleanlyShutDown reports whether pg_rewind can run without crash recovery first.
func (c ControlData) CleanlyShutDown() bool {
	return c.State == StateShutDown || c.State == StateShutDownInRecovery
}

// ParseControlData parses pg_controldata output (run with LC_ALL=C).
func ParseControlData(out []byte) (ControlData, error) {
	cd := ControlData{Raw: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		cd.Raw[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	if err := sc.Err(); err != nil {
		return ControlData{}, fmt.Errorf("read pg_controldata output: %w", err)
	}
	var err error
	field := func(key string) string {
		v, ok := cd.Raw[key]
		if !ok && err == nil {
			err = fmt.Errorf("pg_controldata output lacks %q", key)
		}
		return v
	}
	lsn := func(key string) uint64 {
		s := field(key)
		if err != nil {
			return 0
		}
		n, e := cluster.ParseLSN(s)
		if e != nil {
			err = fmt.Errorf("pg_controldata %q: %w", key, e)
		}
		return n
	}
	num := func(key string) int {
		s := field(key)
		if err != nil {
			return 0
		}
		n, e := strconv.Atoi(s)
		if e != nil {
			err = fmt.Errorf("pg_controldata %q: %w", key, e)
		}
		return n
	}
	cd.SysID = field("Database system identifier")
	cd.State = field("Database cluster state")
	cd.Timeline = num("Latest checkpoint's TimeLineID")
	cd.CheckpointLSN = lsn("Latest checkpoint location")
	cd.MinRecoveryEndLSN = lsn("Minimum recovery ending location")
	cd.MinRecoveryEndTimeline = num("Min recovery ending loc's timeline")
	cd.WALLogHints = field("wal_log_hints setting") == "on"
	cd.DataChecksums = num("Data page checksum version") != 0
	if err != nil {
		return ControlData{}, err
	}
	return cd, nil
}

// Position is the (timeline, LSN) a stopped cluster stands at, as Patroni
// derives it for the divergence check (E.7): after recovery the minimum
// recovery end point (0/0 means it was promoted-in-place: use the
// checkpoint), otherwise the latest checkpoint.
func (c ControlData) Position() LocalPosition {
	if c.InRecovery() && c.MinRecoveryEndLSN != 0 {
		return LocalPosition{Timeline: c.MinRecoveryEndTimeline, LSN: c.MinRecoveryEndLSN}
	}
	return LocalPosition{Timeline: c.Timeline, LSN: c.CheckpointLSN, WasPrimary: !c.InRecovery()}
}
