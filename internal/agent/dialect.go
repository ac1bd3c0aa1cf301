package agent

import (
	"fmt"

	"github.com/warden-ha/warden/internal/cluster"
)

// speaks is the dialect whose words the node uses outside.
func (a *Agent) speaks() cluster.Dialect { return cluster.Dialect(a.dialect.Load()) }

// followDialect: with warden.patroni_version auto, the node speaks what the other
// members' keys show (a Patroni 4 member, or master/primary in a primary's key); with
// no such key it keeps what it speaks (in a new cluster, cluster.DefaultDialect).
func (a *Agent) followDialect(cl *cluster.Cluster) {
	if a.opts.Dialect != 0 {
		return
	}
	d, ok := cluster.DetectDialect(cl.Members, a.opts.Name)
	if !ok || d == a.speaks() {
		return
	}
	a.log.Info(fmt.Sprintf("speaking Patroni %d's words (%s for a primary, version %s) as the other members' keys show", int(d), d.RoleWord(cluster.RolePrimary), d.APIVersion()),
		"was", int(a.speaks()))
	a.dialect.Store(int32(d))
}
