package ha

import (
	"slices"

	"github.com/warden-ha/warden/internal/cluster"
)

// cloneSource is the member a new replica copies its data from: a running member tagged
// clonefrom other than the leader and this node, else the leader (Patroni's
// get_clone_member). Patroni picks among several at random; the core reads no
// randomness, so the first by name is taken.
func cloneSource(c *cluster.Cluster, self string) (string, bool) {
	var names []string
	for _, m := range c.Members {
		if m.Name != self && m.Name != c.LeaderName() && m.State == "running" && cluster.Truthy(m.Tags["clonefrom"]) {
			names = append(names, m.Name)
		}
	}
	if len(names) == 0 {
		return c.LeaderName(), false
	}
	return slices.Min(names), true
}
