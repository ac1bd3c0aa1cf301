package sim

import (
	"fmt"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/ha"
)

// postgres is the model of one node's PostgreSQL: a data directory and a postmaster.
// Timing is coarse: a start is "running, not ready" until the long action that started it
// completes, and WAL moves on the simulator's replication tick.
type postgres struct {
	initialized bool
	sysid       string
	running     bool
	ready       bool
	inRecovery  bool
	timeline    int
	wal         uint64
	upstream    string
	// wasPrimary: pg_control says "in production" (the server was a primary and did not
	// shut down cleanly).
	wasPrimary bool
	history    []cluster.HistoryEntry
	// syncNames is synchronous_standby_names (kept in postgresql.conf across restarts).
	syncNames string
}

// writable: the server accepts writes right now.
func (p *postgres) writable() bool { return p.running && p.ready && !p.inRecovery }

func (p *postgres) observe() ha.Postgres {
	return ha.Postgres{
		DataDirEmpty: !p.initialized,
		SysID:        p.sysid,
		Running:      p.running,
		Ready:        p.running && p.ready,
		InRecovery:   p.inRecovery,
		Timeline:     p.timeline,
		WAL:          p.wal,
		Upstream:     p.upstream,
		WasPrimary:   p.wasPrimary,

		SyncStandbyNames: p.syncNames,
	}
}

// stop halts the postmaster. A clean (fast) stop of a primary leaves pg_control "shut
// down"; an immediate stop or a crash leaves it "in production".
func (p *postgres) stop(clean bool) {
	if p.running && !p.inRecovery && p.ready {
		p.wasPrimary = !clean
	}
	p.running, p.ready = false, false
}

// startReplica begins starting as a standby of upstream ("" = no primary_conninfo).
func (p *postgres) startReplica(upstream string) {
	p.running, p.ready, p.inRecovery, p.upstream = true, false, true, upstream
}

// startPrimary begins starting without a standby.signal.
func (p *postgres) startPrimary() {
	p.running, p.ready, p.inRecovery, p.upstream = true, false, false, ""
}

// promote ends recovery: a new timeline forks at the current WAL position.
func (p *postgres) promote(reason string) {
	p.history = append(p.history, cluster.HistoryEntry{Timeline: p.timeline, LSN: p.wal, Reason: reason})
	p.timeline++
	p.inRecovery, p.upstream, p.wasPrimary = false, "", true
}

// copyFrom is pg_basebackup: the data directory becomes a copy of src's.
func (p *postgres) copyFrom(src *postgres) {
	p.initialized, p.sysid, p.timeline, p.wal = true, src.sysid, src.timeline, src.wal
	p.history = append([]cluster.HistoryEntry(nil), src.history...)
	p.running, p.ready, p.inRecovery, p.upstream, p.wasPrimary = false, false, true, "", false
}

func (p *postgres) String() string {
	if !p.initialized {
		return "pg=empty"
	}
	state := "stopped"
	switch {
	case p.running && !p.ready:
		state = "starting"
	case p.running && p.inRecovery:
		state = "replica"
	case p.running:
		state = "primary"
	}
	up := ""
	if p.running && p.inRecovery {
		up = fmt.Sprintf(" up=%q", p.upstream)
	}
	return fmt.Sprintf("pg=%s tl=%d wal=%d%s", state, p.timeline, p.wal, up)
}
