package pgconf

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/warden-ha/warden/internal/cluster"
)

// HistoryLine is one line of a timeline history file: the timeline that
// ended, the LSN where the next one branched off, and the reason.
type HistoryLine struct {
	ParentTimeline int
	SwitchLSN      uint64
	Reason         string
}

// ParseHistory parses a timeline history file ("parentTLI\tswitchLSN\treason"
// per line; blank lines and '#' comments skipped, as PostgreSQL does).
func ParseHistory(content []byte) ([]HistoryLine, error) {
	var out []HistoryLine
	sc := bufio.NewScanner(bytes.NewReader(content))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			return nil, fmt.Errorf("history line %d: expected timeline and LSN: %q", n, line)
		}
		tli, err := strconv.ParseUint(fields[0], 10, 32)
		if err != nil || tli == 0 {
			return nil, fmt.Errorf("history line %d: invalid timeline %q", n, fields[0])
		}
		lsn, err := cluster.ParseLSN(fields[1])
		if err != nil {
			return nil, fmt.Errorf("history line %d: %w", n, err)
		}
		reason := ""
		if i := strings.Index(line, fields[1]); i >= 0 {
			reason = strings.TrimSpace(line[i+len(fields[1]):])
		}
		out = append(out, HistoryLine{ParentTimeline: int(tli), SwitchLSN: lsn, Reason: reason})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	return out, nil
}

// LocalPosition is where the local cluster stands for the divergence check.
type LocalPosition struct {
	Timeline int
	LSN      uint64
	// WasPrimary is true when the cluster was shut down as a primary (not in
	// recovery); it then needs the end of its shutdown checkpoint record.
	WasPrimary bool
	// CheckpointEnd is the LSN just past the shutdown checkpoint record of a
	// former primary (from pg_waldump); 0 when unknown.
	CheckpointEnd uint64
}

// NeedsRewind reports whether the local cluster has diverged from the
// primary's history (E.7). history is the primary's timeline history (for
// its current timeline); it is only consulted when the local timeline is
// behind the primary's.
func NeedsRewind(local LocalPosition, primaryTimeline int, history []HistoryLine) bool {
	switch {
	case local.Timeline > primaryTimeline:
		return true
	case local.Timeline == primaryTimeline:
		return false
	}
	for _, h := range history {
		if h.ParentTimeline == local.Timeline {
			if !local.WasPrimary {
				return local.LSN > h.SwitchLSN
			}
			if local.LSN >= h.SwitchLSN {
				return true
			}
			// A cleanly stopped former primary is compatible only if its
			// last record (the shutdown checkpoint) ends exactly where the
			// new timeline began.
			return local.CheckpointEnd != h.SwitchLSN
		}
		if h.ParentTimeline > local.Timeline {
			return true
		}
	}
	return true
}
