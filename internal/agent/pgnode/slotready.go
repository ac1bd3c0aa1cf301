package pgnode

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/ha"
	"github.com/warden-ha/warden/internal/postgres"
)

// A copied logical slot needs catalog rows that the leader keeps for it only once this
// replica's hot-standby feedback (which carries the copy's catalog_xmin) has reached the
// leader's physical slot for this replica; rows vacuumed before that may be missing.
// As Patroni's check_logical_slots_readiness: when the physical slot's catalog_xmin is
// first seen valid, remember the leader slot's catalog_xmin (seen); the copy is safe once
// seen <= physical catalog_xmin <= the copy's catalog_xmin. Until then a promotion warns.

// slotSafe is that rule, in PostgreSQL's modulo-2^32 transaction id order.
func slotSafe(seen, physical, local uint32) bool {
	return xidNotAfter(seen, physical) && xidNotAfter(physical, local)
}

func xidNotAfter(a, b uint32) bool { return int32(a-b) <= 0 }

// markUnready records freshly copied slots as not yet safe.
func (n *Node) markUnready(names []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.unready == nil {
		n.unready = map[string]*uint32{}
	}
	for _, name := range names {
		n.unready[name] = nil
	}
}

// checkReadiness asks the leader about the copies still unready.
func (n *Node) checkReadiness(ctx context.Context, t ha.SlotTargets, have []ha.SlotState) {
	n.mu.Lock()
	unready := make(map[string]*uint32, len(n.unready))
	for k, v := range n.unready {
		unready[k] = v
	}
	n.mu.Unlock()
	if len(unready) == 0 || t.Leader == nil {
		return
	}
	mine := cluster.SlotName(n.opts.Name)
	ask := []string{mine}
	for name, seen := range unready {
		if seen == nil {
			ask = append(ask, name)
		}
	}
	xmins, err := n.leaderSlotXmins(ctx, *t.Leader, ask)
	if err != nil {
		n.log.Warn("could not check the copied logical slots on the leader", "leader", t.Leader.Name, "err", err)
		return
	}
	physical, ok := xmins[mine]
	if !ok || physical == 0 {
		return // not streaming through the slot yet, or no feedback yet
	}
	local := map[string]ha.SlotState{}
	for _, h := range have {
		local[h.Name] = h
	}
	for name, seen := range unready {
		if seen == nil {
			if x, ok := xmins[name]; ok {
				unready[name] = &x
			}
			continue
		}
		h, ok := local[name]
		if !ok {
			delete(unready, name)
		} else if slotSafe(*seen, physical, h.CatalogXmin) {
			delete(unready, name)
			n.log.Info(fmt.Sprintf("Logical slot %s is safe to be used after a failover", name))
		}
	}
	n.mu.Lock()
	n.unready = unready
	n.mu.Unlock()
}

func (n *Node) leaderSlotXmins(ctx context.Context, leader cluster.Member, names []string) (map[string]uint32, error) {
	host, port, err := memberAddress(leader)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := postgres.Connect(ctx, n.opts.Superuser.at(host, port))
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return conn.PrimarySlotXmins(ctx, names)
}

// warnUnready is called on promotion: copies not known safe may fail to decode.
func (n *Node) warnUnready() {
	n.mu.Lock()
	names := make([]string, 0, len(n.unready))
	for name := range n.unready {
		names = append(names, name)
	}
	n.unready = nil
	n.mu.Unlock()
	if len(names) > 0 {
		sort.Strings(names)
		n.log.Warn("Logical replication slots that might be unsafe to use after promote", "slots", names)
	}
}
