package ha

import (
	"fmt"
	"sort"

	"github.com/warden-ha/warden/internal/cluster"
)

// Upstream is whom a replica streams WAL from.
type Upstream struct {
	// Member is the member named in primary_conninfo; "" for none (nostream, or no
	// leader).
	Member string
	// Leader holds the leader key: the data must follow its timeline.
	Leader string
	// Why says, when Member is not simply the leader, what decided it.
	Why string
}

// upstreamFor chooses the upstream of the member name with the given tags (Patroni's
// _get_node_to_follow): nostream streams from nobody; replicatefrom names a member to
// stream from while it holds the leader key, or is running and streaming itself, and
// the replicatefrom chain does not lead back to name (a loop); otherwise the leader.
func upstreamFor(c *cluster.Cluster, leader, name, replicateFrom string, noStream bool) Upstream {
	u := Upstream{Member: leader, Leader: leader}
	if leader == name {
		u.Member = ""
		return u
	}
	if noStream {
		u.Member, u.Why = "", "nostream: no primary_conninfo"
		return u
	}
	if replicateFrom == "" || replicateFrom == name || replicateFrom == leader {
		return u
	}
	m, ok := c.Member(replicateFrom)
	switch {
	case !ok:
		u.Why = fmt.Sprintf("replicatefrom member %s is not in the cluster", replicateFrom)
	case m.State != "running":
		u.Why = fmt.Sprintf("replicatefrom member %s is %s", replicateFrom, orUnknown(m.State))
	case m.ReplicationState != "" && m.ReplicationState != "streaming":
		u.Why = fmt.Sprintf("replicatefrom member %s is not streaming (%s)", replicateFrom, m.ReplicationState)
	case cascadeLoop(c, leader, name, replicateFrom):
		u.Why = fmt.Sprintf("replicatefrom chain from %s leads back to %s", replicateFrom, name)
	default:
		u.Member, u.Why = replicateFrom, fmt.Sprintf("replicatefrom %s", replicateFrom)
	}
	if u.Member == leader && leader != "" {
		u.Why += ": streaming from the leader"
	}
	return u
}

func orUnknown(s string) string {
	if s == "" {
		return "not running"
	}
	return s
}

// cascadeLoop reports whether following the replicatefrom tags from first leads back to
// name.
func cascadeLoop(c *cluster.Cluster, leader, name, first string) bool {
	seen := map[string]bool{}
	for cur := first; cur != "" && !seen[cur]; {
		if cur == name {
			return true
		}
		seen[cur] = true
		m, ok := c.Member(cur)
		if !ok || cur == leader {
			return false
		}
		cur = ReplicateFrom(m.Tags)
	}
	return false
}

// ReplicateFrom is the member named by the replicatefrom tag ("" when unset).
func ReplicateFrom(tags map[string]any) string {
	s, _ := tags["replicatefrom"].(string)
	return s
}

// myUpstream is this node's upstream, from its own configured tags; in a standby
// cluster without a leader, or for its standby leader, the remote primary.
func myUpstream(in Input) Upstream {
	if leader := in.Cluster.LeaderName(); inStandbyCluster(in) && (leader == "" || leader == in.Settings.Name) {
		return remoteUpstream(in.Settings)
	}
	return upstreamFor(in.Cluster, in.Cluster.LeaderName(), in.Settings.Name, in.Settings.ReplicateFrom, in.Settings.NoStream)
}

// followAction points this replica at its upstream.
func followAction(u Upstream) Action {
	return Action{Kind: KindFollow, Member: u.Member, Leader: u.Leader}
}

// slotsFor are the physical slots this node keeps: one for each member that streams
// from it (Patroni keeps slots on the leader for members following it, and on a replica
// for members cascading from it). Both ends choose the upstream from the same snapshot;
// leader is the key holder (this node when it is taking the key).
func slotsFor(in Input, leader string) []string {
	slots := []string{}
	for _, m := range in.Cluster.Members {
		if m.Name == in.Settings.Name {
			continue
		}
		if upstreamFor(in.Cluster, leader, m.Name, ReplicateFrom(m.Tags), cluster.Truthy(m.Tags["nostream"])).Member == in.Settings.Name {
			slots = append(slots, cluster.SlotName(m.Name))
		}
	}
	sort.Strings(slots)
	return slots
}
