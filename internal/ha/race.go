package ha

import (
	"fmt"
	"slices"
)

func race(in Input) Output {
	s := in.Settings
	if !in.PG.Ready {
		return Output{Reason: "not healthy enough for leader race: PostgreSQL does not accept connections yet"}
	}
	primary := !in.PG.InRecovery
	if s.Pause && !primary {
		if ok, _, decided := raceUnderFailover(in); !decided || !ok {
			return Output{Reason: fmt.Sprintf("no action. I am (%s)", s.Name)}
		}
	}
	if primary && in.WatchdogUnusable && !s.Pause {
		return Output{
			Plan:   Plan{{Kind: KindStop, Mode: StopImmediate}, {Kind: KindFollow}},
			Reason: "Demoting self because watchdog could not be activated",
		}
	}
	ok, why := healthiest(in)
	if ok && inStandbyCluster(in) {
		return standbyRaceWon(in)
	}
	if ok {
		if primary {
			p := append(Plan{{Kind: KindTakeLeader}}, watchdogStep(in)...)
			if s.UseSlots {
				p = append(p, ensureSlots(in, true))
			}
			return Output{Plan: p, Reason: "acquired session lock as a leader", FailReason: "demoted self after trying and failing to obtain lock"}
		}
		p := append(Plan{{Kind: KindTakeLeader}}, promotionSyncSteps(in)...)
		p = append(p, watchdogStep(in)...)
		return Output{
			Plan:       append(p, Action{Kind: KindPromote}),
			Reason:     "promoted self to leader by acquiring session lock",
			FailReason: "following new leader after trying and failing to obtain lock",
		}
	}
	if primary {
		reason := "demoting self because i am not the healthiest node"
		if s.NoFailover {
			reason = "demoting self because I am not allowed to become primary"
		}
		return Output{Plan: Plan{{Kind: KindStop, Mode: StopImmediate}, {Kind: KindFollow}}, Reason: reason + ": " + why}
	}
	if s.NoFailover {
		return Output{Reason: "following a different leader because I am not allowed to promote"}
	}
	return Output{Reason: "following a different leader because i am not the healthiest node: " + why}
}

// healthiest follows Patroni's is_healthiest_node: a running primary always is (unless
// its timeline is behind the cluster's); a replica must be within maximum_lag_on_failover
// of the last known leader position and no reachable candidate may be ahead of it.
// Unreachable members are ignored; several nodes may conclude they are the healthiest
// and the atomic create of the leader key decides.
func healthiest(in Input) (bool, string) {
	s, c, pg := in.Settings, in.Cluster, in.PG
	if prePromoteBackoff(in) {
		return false, PrePromoteBackoff
	}
	if !pg.InRecovery {
		if tl := c.Timeline(); tl > 0 && pg.Timeline > 0 && pg.Timeline < tl {
			return false, fmt.Sprintf("my timeline %d is behind the cluster timeline %d", pg.Timeline, tl)
		}
		return true, ""
	}
	if s.NoFailover {
		return false, "nofailover"
	}
	if in.WatchdogUnusable {
		return false, watchdogNotUsable
	}
	if why := failsafeHold(in); why != "" {
		return false, why
	}
	allowed, syncNames := syncGuard(in)
	if !allowed {
		return false, "synchronous mode is on and I am not a synchronous standby"
	}
	if ok, why, decided := raceUnderFailover(in); decided {
		return ok, why
	}
	if c.Status.Optime > pg.WAL && c.Status.Optime-pg.WAL > s.MaximumLagOnFailover {
		return false, fmt.Sprintf("my wal position exceeds maximum replication lag (%d > %d bytes)", c.Status.Optime-pg.WAL, s.MaximumLagOnFailover)
	}
	if s.CheckTimeline && !inStandbyCluster(in) {
		if tl := c.Timeline(); tl > 0 && pg.Timeline < tl {
			return false, fmt.Sprintf("my timeline %d is behind the cluster timeline %d", pg.Timeline, tl)
		}
	}
	formerLeader := ""
	if !c.Failover.Empty() {
		formerLeader = c.Failover.Leader
	}
	for _, p := range in.Peers {
		if p.Name == s.Name || !p.Reachable || p.NoFailover || p.WatchdogFailed || p.Name == formerLeader {
			continue
		}
		if syncNames != nil && !slices.Contains(syncNames, p.Name) {
			continue
		}
		if !failsafeMayRace(in, p.Name) {
			continue
		}
		if !p.InRecovery {
			return false, fmt.Sprintf("Primary (%s) is still alive", p.Name)
		}
		if p.WAL > pg.WAL {
			return false, fmt.Sprintf("Wal position of %s is ahead of my wal position", p.Name)
		}
		if p.WAL == pg.WAL && p.FailoverPriority > s.FailoverPriority {
			return false, fmt.Sprintf("%s has equal wal position and a higher failover_priority", p.Name)
		}
	}
	if quorumActive(in) {
		return quorumRace(in)
	}
	return true, ""
}

// PrePromoteBackoff is Patroni's line for a node that skips the leader race after
// releasing the key because its pre_promote script failed.
const PrePromoteBackoff = "backoff: skip leader race after pre_promote script failure and releasing the lock voluntarily"

// prePromoteBackoff: this node released the key after a failed pre_promote less than
// ttl ago, so the others get one lease length to take over before it races again.
func prePromoteBackoff(in Input) bool {
	return !in.PrePromoteReleased.IsZero() && in.Now.Sub(in.PrePromoteReleased) < in.Settings.TTL
}
