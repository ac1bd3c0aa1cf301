package ha

import (
	"fmt"
	"time"
)

// hungPostgres handles a lock holder whose postmaster is alive but has answered no query
// for a while: a SIGSTOPped server, a stuck postmaster, storage that stopped answering.
// Patroni keeps such a leader's lock forever (no writes anywhere, no failover). Once
// primary_hang_timeout has passed without one answer, and another member could take
// over, the server is stopped (SIGQUIT, then SIGKILL) before the lock is released, so
// the replica promoted next never overlaps with a server that may still commit. A busy
// server answers: the health query runs as the superuser (reserved connections) with a
// short statement_timeout, and an error reply counts as an answer.
func hungPostgres(in Input) (Output, bool) {
	s, pg := in.Settings, in.PG
	if s.PrimaryHangTimeout <= 0 || s.Pause || pg.NoAnswerSince.IsZero() || !pg.Running || pg.Ready {
		return Output{}, false
	}
	silent := in.Now.Sub(pg.NoAnswerSince).Round(100 * time.Millisecond)
	if silent < s.PrimaryHangTimeout {
		return Output{
			Plan:   Plan{{Kind: KindRefreshLeader}},
			Reason: fmt.Sprintf("updated leader lock while PostgreSQL answers no query (for %s; the lock is released after primary_hang_timeout %s)", silent, s.PrimaryHangTimeout),
		}, true
	}
	if !failoverPossible(in) {
		return Output{
			Plan:   Plan{{Kind: KindRefreshLeader}},
			Reason: fmt.Sprintf("PostgreSQL has answered no query for %s, but no other member could take over: keeping the leader lock", silent),
		}, true
	}
	return Output{
		Plan: Plan{{Kind: KindStop, Mode: StopImmediate}, {Kind: KindReleaseLeader}},
		Reason: fmt.Sprintf("stopped PostgreSQL and released the leader key: the running postmaster has answered no query for %s (every health query since %s timed out; primary_hang_timeout %s)",
			silent, pg.NoAnswerSince.UTC().Format("15:04:05.000"), s.PrimaryHangTimeout),
	}, true
}
