package ha

import (
	"fmt"
	"strings"

	"github.com/warden-ha/warden/internal/cluster"
)

// takeOver decides for a node whose data directory holds a cluster the DCS does not know
// yet: no initialize key and no leader (a migration from repmgr, or a server started by
// hand). Patroni's rules, with two choices of Warden's:
//   - a stopped primary's data directory is claimed (initialize key created only if
//     absent, then the leader key) before it is started as the primary it was: no detour
//     through a standby and a promotion, so its timeline does not change;
//   - a standby takes the cluster over only when no other member could and it streams
//     from no primary (Patroni exits for a running standby and races for a stopped one):
//     the primary's node may still be on its way, and promoting a standby beside a live
//     primary splits the cluster.
//
// ok is false when the ordinary rules apply.
func takeOver(in Input) (Output, bool) {
	c, s, pg := in.Cluster, in.Settings, in.PG
	if c.Initialize != nil || c.Locked() || s.Pause || s.NoFailover {
		return Output{}, false
	}
	if pg.SysID == "" {
		return Output{Reason: "data directory is not empty, but its system identifier is unknown: not taking it over"}, true
	}
	if pg.Running && !pg.Ready {
		return Output{Reason: fmt.Sprintf("waiting for the existing PostgreSQL (system identifier %s) to accept connections before taking it over", pg.SysID)}, true
	}
	claim := Action{Kind: KindWriteInitialize, SysID: pg.SysID, IfAbsent: true}
	prefix := fmt.Sprintf("taking over the existing cluster (system identifier %s): ", pg.SysID)
	// FailReason applies when the first step, the claim, fails.
	const claimLost = "not taking over the existing cluster: another member claimed it first"
	standby := pg.InRecovery || (!pg.Running && pg.Standby)
	if !standby && !pg.Running && inStandbyCluster(in) {
		return Output{
			Plan:       Plan{claim, {Kind: KindTakeLeader}, followAction(remoteUpstream(s))},
			Reason:     prefix + "starting it as the standby leader of the standby cluster",
			FailReason: claimLost,
		}, true
	}
	if !standby && !pg.Running {
		return Output{
			Plan:       Plan{claim, {Kind: KindTakeLeader}, {Kind: KindStartPrimary}},
			Reason:     prefix + "starting it as the primary it was",
			FailReason: claimLost,
		}, true
	}
	if standby {
		if pg.Streaming {
			return Output{Reason: "no initialize key in DCS and PostgreSQL is a standby streaming from a running primary: waiting for that primary to be taken over first"}, true
		}
		if others := otherCandidates(c, s.Name); len(others) > 0 {
			return Output{Reason: fmt.Sprintf("no initialize key in DCS and PostgreSQL is a standby: waiting for the primary to be taken over first (other members: %s)", strings.Join(others, ", "))}, true
		}
		if !pg.Running {
			return Output{Plan: Plan{{Kind: KindFollow}}, Reason: prefix + "starting the standby without upstream, the only candidate"}, true
		}
	}
	out := race(in)
	if out.Plan.Has(KindTakeLeader) {
		out.Plan = append(Plan{claim}, out.Plan...)
		out.Reason, out.FailReason = prefix+out.Reason, claimLost
	}
	return out, true
}

// otherCandidates names the other registered members that could lead: they have data
// and may fail over.
func otherCandidates(c *cluster.Cluster, self string) []string {
	var names []string
	for _, m := range c.Members {
		if m.Name != self && m.Role != cluster.RoleUninitialized && !m.NoFailover() {
			names = append(names, m.Name)
		}
	}
	return names
}
