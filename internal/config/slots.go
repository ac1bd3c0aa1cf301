package config

import (
	"fmt"
	"regexp"
	"sort"
)

// PermanentSlot is one entry of the dynamic `slots` map.
type PermanentSlot struct {
	Name, Type, Database, Plugin string
	// ClusterType (Patroni 4.1, physical slots): "primary" keeps the slot only in a
	// cluster that is not a standby cluster, "standby" only in a standby cluster; ""
	// in both.
	ClusterType string
}

// InCluster reports whether the slot belongs in a standby cluster (standby true) or in
// a cluster with a primary.
func (p PermanentSlot) InCluster(standby bool) bool {
	return p.ClusterType == "" || (p.ClusterType == "standby") == standby
}

// SlotMatcher is one `ignore_slots` entry; empty fields match anything.
type SlotMatcher struct {
	Name, Type, Database, Plugin string
}

var slotNameRE = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)

// parseSlots reads the permanent slots the way Patroni does: an empty value is a
// physical slot, the type is logical when database and plugin are given, and an entry
// with a bad name or value is skipped with a warning naming it.
func parseSlots(d *diags, path string, m map[string]any) []PermanentSlot {
	var out []PermanentSlot
	for name, v := range m {
		key := joinPath(path, name)
		if !slotNameRE.MatchString(name) {
			d.warn(key, "invalid permanent replication slot name: only lower case letters, digits and underscores (at most 63); slot ignored")
			continue
		}
		slot := PermanentSlot{Name: name, Type: "physical"}
		if v != nil {
			fields, ok := v.(map[string]any)
			if !ok {
				d.warn(key, "expected a mapping {type, database, plugin}, got %s; slot ignored", describe(name, v))
				continue
			}
			s := newSection(d, key, fields, true)
			slot.Type, slot.Database, slot.Plugin = s.str("type"), s.str("database"), s.str("plugin")
			slot.ClusterType = clusterType(s)
			s.done(nil)
			if slot.Type == "" {
				slot.Type = "physical"
				if slot.Database != "" && slot.Plugin != "" {
					slot.Type = "logical"
				}
			}
		}
		if slot.Type != "physical" && slot.ClusterType != "" {
			d.warn(joinPath(key, "cluster_type"), "only used for physical slots, ignored")
			slot.ClusterType = ""
		}
		switch {
		case slot.Type == "physical":
			slot.Database, slot.Plugin = "", ""
		case slot.Type == "logical" && slot.Database != "" && slot.Plugin != "":
		default:
			d.warn(key, "bad value for a permanent slot (type %q, database %q, plugin %q): a logical slot needs database and plugin; slot ignored", slot.Type, slot.Database, slot.Plugin)
			continue
		}
		out = append(out, slot)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// clusterType reads a permanent slot's cluster_type: primary or standby; another value
// restricts nothing, as in Patroni, with a warning.
func clusterType(s *section) string {
	v := s.str("cluster_type")
	switch v {
	case "", "primary", "standby":
		return v
	}
	s.d.warn(s.key("cluster_type"), "expected primary or standby, got %q; the slot is kept in both kinds of cluster", v)
	return ""
}

// parseIgnoreSlots reads `ignore_slots`: a list of mappings with any of name, type,
// database, plugin.
func parseIgnoreSlots(d *diags, path string, l []any) []SlotMatcher {
	var out []SlotMatcher
	for i, v := range l {
		key := fmt.Sprintf("%s[%d]", path, i)
		m, ok := v.(map[string]any)
		if !ok {
			d.warn(key, "expected a mapping {name, type, database, plugin}, got %s; matcher ignored", describe("", v))
			continue
		}
		s := newSection(d, key, m, true)
		out = append(out, SlotMatcher{Name: s.str("name"), Type: s.str("type"), Database: s.str("database"), Plugin: s.str("plugin")})
		s.done(nil)
	}
	return out
}

// LogicalSlots reports whether permanent logical slots are in use, which makes
// replicas keep copies of them and need hot_standby_feedback.
func (d Dynamic) LogicalSlots() bool {
	for _, s := range d.PermanentSlots {
		if s.Type == "logical" {
			return d.UseSlots
		}
	}
	return false
}
