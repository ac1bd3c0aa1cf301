package sim

import (
	"errors"
	"strings"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/ha"
)

// replicationRows is pg_stat_replication on a primary: the standbys streaming from it
// on its timeline, with the sync_state PostgreSQL reports for synchronous_standby_names.
func (s *Sim) replicationRows(n *node) []ha.Replica {
	var rows []ha.Replica
	quorum := strings.HasPrefix(strings.ToUpper(n.pg.syncNames), "ANY ")
	for _, m := range s.streamingFrom(n) {
		state := "async"
		switch {
		case n.pg.syncNames == "*":
			state = "sync"
		case strings.Contains(n.pg.syncNames, `"`+m.name+`"`) || n.pg.syncNames == m.name:
			state = "sync"
			if quorum {
				state = "quorum"
			}
		}
		rows = append(rows, ha.Replica{Name: m.name, State: "streaming", SyncState: state, FlushLSN: m.pg.wal})
	}
	return rows
}

// acknowledge records what every writable server has acknowledged to its clients under
// its synchronous_standby_names, given what its direct standbys have received.
func (s *Sim) acknowledge() {
	if s.cfg.SyncMode == "" {
		return
	}
	for _, n := range s.nodes {
		if !n.pg.writable() {
			continue
		}
		flush := map[string]uint64{}
		for _, m := range s.streamingFrom(n) {
			flush[m.name] = m.pg.wal
		}
		lsn, sync := ha.Acknowledged(n.pg.syncNames, flush)
		if lsn = min(lsn, n.pg.wal); sync && lsn > s.acked {
			s.stats.AckedWAL += lsn - s.acked
			s.acked = lsn
		}
	}
}

// checkAcknowledged is invariant 7: a server that starts accepting writes holds every
// position acknowledged synchronously before.
func (s *Sim) checkAcknowledged(n *node) {
	if s.cfg.SyncMode == "" || s.cfg.Profile == Frozen || !n.pg.writable() {
		return
	}
	s.stats.AckChecks++
	if n.pg.wal < s.acked {
		s.violate("acknowledged commit lost: %s accepts writes at WAL %d, below %d acknowledged synchronously", n.name, n.pg.wal, s.acked)
	}
}

// noteSyncGUC mirrors the agent's: the position at the first observation as a primary
// or after synchronous_standby_names changed.
func (a *agent) noteSyncGUC(pg ha.Postgres) {
	switch {
	case !pg.Ready || pg.InRecovery:
		a.syncGUCSetAt = 0
	case a.syncGUCSetAt == 0 || a.syncGUCChanged:
		a.syncGUCSetAt, a.syncGUCChanged = pg.WAL, false
	}
}

// doSync executes the synchronous-replication actions.
func (s *Sim) doSync(n *node, a *agent, act ha.Action) error {
	rev := int64(0)
	if cl := a.lastCluster; cl != nil && cl.Sync != nil {
		rev = cl.Sync.Revision
	}
	switch act.Kind {
	case ha.KindSetSyncStandbys:
		n.pg.syncNames = act.Value
		if act.Release {
			n.pg.syncNames = ""
		}
		a.syncGUCChanged = true
	case ha.KindWriteSync:
		ok, err := n.store.SetSync(s.ctx, cluster.EncodeSync(cluster.SyncState{Leader: n.name, SyncStandby: act.Standbys, Quorum: act.Quorum}), rev)
		if err == nil && !ok {
			err = errors.New("the sync key changed since it was read")
		}
		return err
	case ha.KindDeleteSync:
		return n.store.DeleteSync(s.ctx, rev)
	}
	return nil
}
