package ha

import (
	"fmt"
	"slices"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
)

// failoverWord is Patroni 4's wording: "switchover" when the request names the leader.
func failoverWord(f *cluster.Failover) string {
	if f.Leader != "" {
		return "switchover"
	}
	return "manual failover"
}

// scheduledAt parses the request's scheduled_at; ok is false when it is absent or unusable.
func scheduledAt(f *cluster.Failover) (time.Time, bool) {
	if f.ScheduledAt == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, f.ScheduledAt)
	return t, err == nil
}

// manualFailover is the lock holder's part of a switchover or manual failover
// (Patroni's process_manual_failover_from_leader).
func manualFailover(in Input) (Output, bool) {
	c, s := in.Cluster, in.Settings
	f := c.Failover
	if f.Empty() {
		return Output{}, false
	}
	word := failoverWord(f)
	clear := func(reason string) (Output, bool) {
		return Output{Plan: Plan{{Kind: KindRefreshLeader}, {Kind: KindClearFailover}}, Reason: reason}, true
	}
	if at, ok := scheduledAt(f); ok {
		if s.Pause {
			return Output{}, false
		}
		if wait := at.Sub(in.Now); wait > 0 {
			out := steadyLeader(in)
			if inStandbyCluster(in) {
				out = standbySteady(in)
			}
			out.Reason = fmt.Sprintf("Awaiting %s at %s (in %.0f seconds)", word, at.Format(time.RFC3339), wait.Seconds())
			out.RetryIn = min(wait, s.LoopWait)
			return out, true
		}
		if in.Now.Sub(at) > s.LoopWait*3/2 {
			return clear("Found a stale failover value, cleaning up")
		}
	} else if f.ScheduledAt != "" {
		return clear(fmt.Sprintf("%s: unusable scheduled_at %q, cleaning up", word, f.ScheduledAt))
	}
	if f.Candidate == s.Name {
		return clear(fmt.Sprintf("%s: I am already the leader, no need to failover", word))
	}
	if f.Leader != "" && f.Leader != s.Name {
		return clear(fmt.Sprintf("%s: leader name does not match: %s != %s", word, f.Leader, s.Name))
	}
	if !primaryRunning(in.PG) && !standbyLeaderRunning(in) {
		return Output{}, false
	}
	if _, ok := healthyCandidate(in, f); !ok {
		return clear(fmt.Sprintf("%s: no healthy members found, failover is not possible", word))
	}
	return Output{
		Plan:   Plan{{Kind: KindRefreshLeader}, {Kind: KindDemote}},
		Reason: fmt.Sprintf("%s: demoting myself", word),
	}, true
}

// healthyCandidate finds a member that can take over: the named candidate, or any
// other member; reachable, in recovery, allowed to fail over, and not lagging beyond
// maximum_lag_on_failover behind this primary.
func healthyCandidate(in Input, f *cluster.Failover) (string, bool) {
	_, syncNames := syncGuard(in)
	for _, p := range in.Peers {
		if p.Name == in.Settings.Name || (f.Candidate != "" && p.Name != f.Candidate) {
			continue
		}
		if syncNames != nil && !slices.Contains(syncNames, p.Name) {
			continue
		}
		if !p.Reachable || !p.InRecovery || p.NoFailover || p.WatchdogFailed {
			continue
		}
		if in.PG.WAL > p.WAL && in.PG.WAL-p.WAL > in.Settings.MaximumLagOnFailover {
			continue
		}
		return p.Name, true
	}
	return "", false
}

// raceUnderFailover applies Patroni's manual-failover rules in a leader race
// (manual_failover_process_no_leader); decided is false when the ordinary rules apply.
func raceUnderFailover(in Input) (ok bool, why string, decided bool) {
	c, s := in.Cluster, in.Settings
	f := c.Failover
	if f.Empty() {
		return false, "", false
	}
	if at, scheduled := scheduledAt(f); scheduled && at.After(in.Now) {
		return false, "", false
	}
	if f.Candidate == s.Name {
		return true, "", true
	}
	if f.Candidate != "" {
		for _, p := range in.Peers {
			if p.Name == f.Candidate && p.Reachable && p.InRecovery && !p.NoFailover && !p.WatchdogFailed {
				return false, fmt.Sprintf("%s to %s is in progress", failoverWord(f), f.Candidate), true
			}
		}
		// The named candidate cannot take over: the ordinary rules pick someone.
	}
	if s.Pause {
		return false, "paused", true
	}
	if f.Leader == s.Name {
		if _, other := healthyCandidate(in, &cluster.Failover{}); other {
			return false, "a healthy member other than the former leader can take over", true
		}
		return true, "", true
	}
	return false, "", false
}
