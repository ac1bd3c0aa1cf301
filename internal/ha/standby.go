package ha

import (
	"fmt"
	"sort"
	"strings"
)

// Standby clusters (Patroni's standby_cluster). The lock holder is a standby leader: it
// streams from a remote primary and/or replays an archive, holds and refreshes the
// leader key like a primary, keeps slots for the members following it, and never
// promotes while the configuration names the remote. The other members follow it.
// When the cluster has no leader, or this node holds the key, the upstream is the
// remote (Patroni's _get_node_to_follow). Removing standby_cluster from the dynamic
// configuration makes the lock holder an ordinary leader in recovery, which promotes.

// RemotePrefix starts the upstream name of the remote primary of a standby cluster; the
// rest is Settings.StandbyCluster.
const RemotePrefix = "remote_member:"

// IsRemote reports whether an upstream name is a standby cluster's remote primary.
func IsRemote(name string) bool { return strings.HasPrefix(name, RemotePrefix) }

func inStandbyCluster(in Input) bool { return in.Settings.StandbyCluster != "" }

// remoteUpstream is the standby leader's upstream: the remote primary, whose timeline
// the local data must follow too (diverged data is rewound from it, as Patroni does).
func remoteUpstream(s Settings) Upstream {
	name := RemotePrefix + s.StandbyCluster
	return Upstream{Member: name, Leader: name, Why: "standby cluster: following the remote primary " + s.StandbyCluster}
}

// aheadOfStandbyLeader: in a standby cluster, this replica runs on a later timeline than
// the standby leader publishes (the cluster was a normal one, promoted, and made a
// standby cluster again: the standby leader was rewound to the remote's timeline).
// Streaming cannot resume until the replica's data is checked and rewound; a Follow does
// that. Patroni triggers the same check from the leader's timeline.
func aheadOfStandbyLeader(in Input) (string, bool) {
	m, ok := in.Cluster.LeaderMember()
	if !inStandbyCluster(in) || !ok || m.Timeline == 0 || in.PG.Timeline <= m.Timeline {
		return "", false
	}
	return fmt.Sprintf("my timeline %d is ahead of the standby leader's (%d): checking whether my data diverged", in.PG.Timeline, m.Timeline), true
}

// standbyLeader is the lock holder's cycle in a standby cluster (Patroni's
// process_healthy_cluster with enforce_follow_remote_member).
func standbyLeader(in Input) Output {
	s := in.Settings
	u := remoteUpstream(s)
	refresh := Action{Kind: KindRefreshLeader}
	const failed = "not promoting because failed to update leader lock in DCS"
	switch {
	case primaryRunning(in.PG) && s.Pause:
		return Output{Plan: Plan{refresh}, Reason: "continue to run as primary without lock"}
	case primaryRunning(in.PG):
		// Patroni's demote('immediate-nolock'): the key is kept, the node comes back
		// as the standby leader.
		return Output{
			Plan:   Plan{refresh, {Kind: KindStop, Mode: StopImmediate}, followAction(u)},
			Reason: "cannot be a real primary in standby cluster",
		}
	case !in.PG.Ready:
		return Output{Plan: Plan{refresh}, Reason: "updated leader lock while PostgreSQL is starting up"}
	case len(in.PG.Insufficient) > 0 && !s.Pause:
		return Output{Plan: Plan{refresh, {Kind: KindRestart}}, Reason: "restarting: " + insufficient(in.PG), FailReason: failed}
	}
	if out, ok := manualFailover(in); ok {
		return out
	}
	if in.PG.Upstream != u.Member {
		return Output{
			Plan:       Plan{refresh, followAction(u)},
			Reason:     withWhy("promoted self to a standby leader because i had the session lock", u),
			FailReason: failed,
		}
	}
	return standbySteady(in)
}

// standbySteady is the standby leader's cycle when nothing is to change.
func standbySteady(in Input) Output {
	s := in.Settings
	const failed = "not promoting because failed to update leader lock in DCS"
	p := Plan{{Kind: KindRefreshLeader}}
	if s.UseSlots {
		p = append(p, standbyLeaderSlots(in))
	}
	return Output{Plan: p, Reason: fmt.Sprintf("no action. I am (%s), the standby leader with the lock", s.Name), FailReason: failed}
}

// standbyLeaderRunning: this node is a standby leader whose PostgreSQL answers; it can
// hand the key over in a switchover (Patroni's process_manual_failover_from_leader runs
// for a standby leader too).
func standbyLeaderRunning(in Input) bool {
	return inStandbyCluster(in) && in.PG.Ready && in.PG.InRecovery
}

// standbyLeaderSlots: a standby leader keeps a physical slot for each member following
// it and the permanent physical slots; a server in recovery cannot create logical ones
// (Patroni 3.0.2 gives a standby_leader the permanent physical slots only).
func standbyLeaderSlots(in Input) Action {
	s := in.Settings
	t := SlotTargets{Ignore: s.IgnoreSlots, Paused: s.Pause, Grace: s.TTL}
	taken := map[string]bool{}
	for _, name := range slotsFor(in, s.Name) {
		taken[name] = true
		t.Want = append(t.Want, Slot{Name: name, Type: SlotPhysical})
	}
	for _, p := range s.PermanentSlots {
		if p.Type == SlotPhysical && !taken[p.Name] {
			p.Permanent = true
			t.Want = append(t.Want, p)
		}
	}
	sort.Slice(t.Want, func(i, j int) bool { return t.Want[i].Name < t.Want[j].Name })
	return Action{Kind: KindEnsureSlots, SlotTargets: &t}
}

// standbyRaceWon is the plan of a node that wins the race for the key in a standby
// cluster: it becomes the standby leader, following the remote, without promotion
// (a running primary is first stopped: there cannot be one in a standby cluster).
func standbyRaceWon(in Input) Output {
	u := remoteUpstream(in.Settings)
	p := Plan{{Kind: KindTakeLeader}}
	if primaryRunning(in.PG) {
		p = append(p, Action{Kind: KindStop, Mode: StopImmediate})
	}
	if primaryRunning(in.PG) || in.PG.Upstream != u.Member {
		p = append(p, followAction(u))
	}
	return Output{
		Plan:       p,
		Reason:     "promoted self to a standby leader by acquiring session lock",
		FailReason: "following new leader after trying and failing to obtain lock",
	}
}
