package agent

import (
	"context"
	"fmt"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/config"
	"github.com/warden-ha/warden/internal/ha"
)

// configApplier is the part of a node that rewrites PostgreSQL's configuration in place.
type configApplier interface {
	// ApplyConfig rewrites the files for the running role and reloads when they changed
	// (always when force); upstream is whom a replica follows if the node does not know.
	ApplyConfig(ctx context.Context, force bool, upstream *cluster.Member) (bool, error)
}

// configState is what the loop remembers of the dynamic PostgreSQL configuration it
// brought to the server: the fingerprint applied, and the one whose failure was logged.
type configState struct {
	applied, failed string
}

func configFingerprint(d *config.Dynamic) string {
	// fmt prints maps sorted by key, so equal configurations print equally.
	standby := ""
	if d.Standby != nil {
		standby = fmt.Sprintf("%+v", *d.Standby)
	}
	return fmt.Sprintf("%v|%q|%q|%t|%s", d.Parameters, d.PgHBA, d.PgIdent, d.LogicalSlots(), standby)
}

// applyConfig brings a change of the dynamic postgresql section (parameters, pg_hba,
// pg_ident, and hot_standby_feedback forced by permanent logical slots) to
// the running server in the cycle that read it: files rewritten, reloaded when they
// changed, on_reload fired. Whether a changed parameter needs a restart is then read back
// from pg_settings by the next observation. Not while a long action runs: it writes the
// same files for a role that may be changing (a promotion must not get its
// standby.signal back); the next cycle does it.
func (a *Agent) applyConfig(ctx context.Context, cl *cluster.Cluster, obs Observation) {
	node := a.node
	if cn, ok := node.(*callbackNode); ok {
		node = cn.Node
	}
	ap, ok := node.(configApplier)
	fp := configFingerprint(a.dynamic.Load())
	if !ok || !obs.Ready || fp == a.config.applied || a.currentBusy() != nil || a.fatal != nil {
		return
	}
	var upstream *cluster.Member
	if cl != nil && obs.Upstream != "" {
		if m, ok := cl.Member(obs.Upstream); ok {
			upstream = &m
		}
	}
	reloaded, err := ap.ApplyConfig(ctx, false, upstream)
	if err != nil {
		if a.config.failed != fp {
			a.log.Error("could not apply the dynamic configuration; retrying every cycle", "err", err)
			a.config.failed = fp
		}
		return
	}
	a.config.applied, a.config.failed = fp, ""
	if reloaded {
		a.reloaded()
	}
}

// permanentSlots are the dynamic slots this kind of cluster keeps (cluster_type).
func permanentSlots(in []config.PermanentSlot, standby bool) []ha.Slot {
	out := make([]ha.Slot, 0, len(in))
	for _, s := range in {
		if s.InCluster(standby) {
			out = append(out, ha.Slot{Name: s.Name, Type: s.Type, Database: s.Database, Plugin: s.Plugin})
		}
	}
	return out
}

func ignoreSlots(in []config.SlotMatcher) []ha.SlotMatcher {
	out := make([]ha.SlotMatcher, 0, len(in))
	for _, m := range in {
		out = append(out, ha.SlotMatcher{Name: m.Name, Type: m.Type, Database: m.Database, Plugin: m.Plugin})
	}
	return out
}
