package pgnode

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/ha"
	"github.com/warden-ha/warden/internal/postgres"
)

// EnsureSlots makes the local replication slots match the targets: the decision is
// ha.SlotTargets.Changes, this runs it and logs one line per change. It returns the
// positions of the slots it keeps (confirmed_flush_lsn for logical, restart_lsn for
// physical; members' slots too) and the retained member slots for the leader's /status key.
func (n *Node) EnsureSlots(ctx context.Context, t ha.SlotTargets) (ha.SlotsPublished, error) {
	conn, err := n.localConn(ctx)
	if err != nil {
		return ha.SlotsPublished{}, err
	}
	have, err := listSlots(ctx, conn)
	if err != nil {
		return ha.SlotsPublished{}, err
	}
	if !t.Primary {
		n.checkReadiness(ctx, t, have)
	}
	ch := t.Changes(have, time.Now(), n.unexpectedSlots)
	n.unexpectedSlots = ch.Unexpected
	n.reportMissing(ch.Missing)
	var errs []error
	for _, d := range ch.Drop {
		if dropped, err := conn.DropSlot(ctx, d.Name); err != nil {
			errs = append(errs, err)
		} else if dropped {
			n.log.Info("dropped replication slot because "+d.Why, "slot", d.Name)
		}
	}
	for _, s := range ch.Create {
		if err := n.createSlot(ctx, conn, s); err != nil {
			errs = append(errs, err)
		}
	}
	for _, a := range ch.Advance {
		if err := n.advanceSlot(ctx, conn, a); err != nil {
			errs = append(errs, err)
		}
	}
	if !ch.Empty() {
		if have, err = listSlots(ctx, conn); err != nil {
			return ha.SlotsPublished{}, errors.Join(append(errs, err)...)
		}
	}
	return ha.SlotsPublished{Positions: keptPositions(t, have), Retain: n.retain(t, have)}, errors.Join(errs...)
}

// retain updates the primary's retain_slots and logs each name that expired, in
// Patroni 4's words.
func (n *Node) retain(t ha.SlotTargets, have []ha.SlotState) []string {
	if !t.Primary {
		n.retainSlots = nil
		return nil
	}
	next, publish, expired := t.Retention(have, time.Now(), n.retainSlots)
	n.retainSlots = next
	for _, name := range expired {
		n.log.Info(fmt.Sprintf("Replication slot '%s' for absent cluster member is expired after %d sec.", name, int(t.MemberSlotsTTL/time.Second)))
	}
	return publish
}

func listSlots(ctx context.Context, conn *postgres.Conn) ([]ha.SlotState, error) {
	slots, err := conn.Slots(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ha.SlotState, 0, len(slots))
	for _, s := range slots {
		out = append(out, ha.SlotState{Name: s.Name, Type: s.Type, Database: s.Database, Plugin: s.Plugin,
			Active: s.Active, Temporary: s.Temporary, RestartLSN: s.RestartLSN, ConfirmedFlushLSN: s.ConfirmedFlushLSN, CatalogXmin: s.CatalogXmin,
			Failover: s.Failover, Synced: s.Synced, WALStatus: s.WALStatus})
	}
	return out, nil
}

// keptPositions are the positions of the wanted slots, members' as well as permanent
// ones: Patroni 4 replicas keep a slot for every member and advance it to the position
// the leader publishes for it.
func keptPositions(t ha.SlotTargets, have []ha.SlotState) map[string]uint64 {
	wanted := map[string]bool{}
	for _, w := range t.Want {
		wanted[w.Name] = true
	}
	out := map[string]uint64{}
	for _, h := range have {
		if wanted[h.Name] && h.Position() > 0 {
			out[h.Name] = h.Position()
		}
	}
	return out
}

func (n *Node) createSlot(ctx context.Context, conn *postgres.Conn, s ha.Slot) error {
	if s.Type == ha.SlotPhysical {
		created, err := conn.CreatePhysicalSlot(ctx, s.Name)
		if created {
			n.log.Info("created physical replication slot", "slot", s.Name, "permanent", s.Permanent)
		}
		return err
	}
	db, err := n.databaseConn(ctx, s.Database)
	if err != nil {
		return fmt.Errorf("create logical slot %s: %w", s.Name, err)
	}
	defer db.Close(context.WithoutCancel(ctx))
	created, err := db.CreateLogicalSlot(ctx, s.Name, s.Plugin)
	if created {
		n.log.Warn("created permanent logical replication slot at the current WAL position: its consumers may need to resync if they read from a slot on a former primary",
			"slot", s.Name, "database", s.Database, "plugin", s.Plugin)
	}
	return err
}

func (n *Node) advanceSlot(ctx context.Context, conn *postgres.Conn, a ha.SlotAdvance) error {
	if a.Type == ha.SlotLogical {
		db, err := n.databaseConn(ctx, a.Database)
		if err != nil {
			return fmt.Errorf("advance slot %s: %w", a.Name, err)
		}
		defer db.Close(context.WithoutCancel(ctx))
		conn = db
	}
	end, err := conn.AdvanceSlot(ctx, a.Name, a.To)
	if err != nil && a.Type == ha.SlotLogical && postgres.IsWALRemoved(err) {
		// The copy cannot be decoded forward any more: drop it, so it is copied afresh.
		if _, derr := conn.DropSlot(ctx, a.Name); derr == nil {
			n.log.Warn("dropped the copy of a logical slot whose WAL is gone; it will be copied again", "slot", a.Name, "err", err)
			return nil
		}
	}
	if err == nil && end > a.From {
		n.log.Debug("advanced replication slot to the leader's position", "slot", a.Name, "from", a.From, "to", end)
	}
	return err
}

// databaseConn connects to one database, as logical slots are created and advanced
// from a session in their database.
func (n *Node) databaseConn(ctx context.Context, database string) (*postgres.Conn, error) {
	p := n.localConnParams()
	p.Database = database
	return postgres.Connect(ctx, p)
}

// reportMissing logs, once per change, the permanent logical slots this replica lacks.
func (n *Node) reportMissing(missing []string) {
	key := fmt.Sprint(missing)
	if len(missing) > 0 && key != n.missingSlots {
		n.log.Warn("permanent logical slots are not on this replica (PostgreSQL cannot create them during recovery); if it is promoted they are created at the promotion point",
			"slots", missing)
	}
	n.missingSlots = key
}

// CopySlots copies the named logical slots from the leader (Patroni's
// copy_logical_slots): their state files are read over a superuser connection, then
// PostgreSQL is stopped, the files installed and PostgreSQL started again, because a
// server in recovery only loads slots at start-up. Afterwards EnsureSlots advances the
// copies to the positions the leader publishes. With hot_standby_feedback on (forced
// while permanent logical slots are configured) the leader keeps the catalog rows the
// copies need.
func (n *Node) CopySlots(ctx context.Context, leader cluster.Member, names []string) error {
	host, port, err := memberAddress(leader)
	if err != nil {
		return err
	}
	conn, err := postgres.Connect(ctx, n.opts.Superuser.at(host, port))
	if err != nil {
		return fmt.Errorf("copy slots: connect to leader %s: %w", leader.Name, err)
	}
	copies, err := conn.LogicalSlotStates(ctx, names)
	conn.Close(context.WithoutCancel(ctx))
	if err != nil {
		return fmt.Errorf("copy slots from %s: %w", leader.Name, err)
	}
	if len(copies) == 0 {
		return fmt.Errorf("copy slots: leader %s has none of %v", leader.Name, names)
	}
	if err := n.Stop(ctx, "fast"); err != nil {
		return err
	}
	var errs []error
	for _, c := range copies {
		if err := n.dir.InstallSlot(c.Name, c.State); err != nil {
			errs = append(errs, err)
			continue
		}
		n.log.Info("copied logical replication slot from the leader", "slot", c.Name, "leader", leader.Name,
			"database", c.Database, "plugin", c.Plugin, "confirmed_flush_lsn", cluster.FormatLSN(c.ConfirmedFlushLSN))
		n.markUnready([]string{c.Name})
	}
	if err := n.start(ctx, n.params().Parameters); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
