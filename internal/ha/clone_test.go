package ha

import (
	"testing"

	"github.com/warden-ha/warden/internal/cluster"
)

func TestCloneSourcePrefersClonefrom(t *testing.T) {
	tagged := func(c *cluster.Cluster, name, state string, tags map[string]any) *cluster.Cluster {
		for i := range c.Members {
			if c.Members[i].Name == name {
				c.Members[i].State, c.Members[i].Tags = state, tags
			}
		}
		return c
	}
	yes := map[string]any{"clonefrom": true}
	for _, tc := range []struct {
		name   string
		c      *cluster.Cluster
		plan   string
		reason string
	}{
		{"no clonefrom member: the leader", snapshot("pg-2", "pg-2", "pg-3"),
			"clone(pg-2)", "trying to bootstrap from leader 'pg-2'"},
		{"a running clonefrom replica", tagged(snapshot("pg-2", "pg-2", "pg-3"), "pg-3", "running", yes),
			"clone(pg-3)", "trying to bootstrap from replica 'pg-3'"},
		{"clonefrom on the leader only: the leader", tagged(snapshot("pg-2", "pg-2", "pg-3"), "pg-2", "running", yes),
			"clone(pg-2)", "trying to bootstrap from leader 'pg-2'"},
		{"a stopped clonefrom member is skipped", tagged(snapshot("pg-2", "pg-2", "pg-3"), "pg-3", "stopped", yes),
			"clone(pg-2)", "trying to bootstrap from leader 'pg-2'"},
		{"clonefrom false", tagged(snapshot("pg-2", "pg-2", "pg-3"), "pg-3", "running", map[string]any{"clonefrom": false}),
			"clone(pg-2)", "trying to bootstrap from leader 'pg-2'"},
		{"several: the first by name", tagged(tagged(snapshot("pg-2", "pg-2", "pg-4", "pg-3"), "pg-4", "running", yes), "pg-3", "running", yes),
			"clone(pg-3)", "trying to bootstrap from replica 'pg-3'"},
		{"never itself", tagged(snapshot("pg-2", "pg-1", "pg-2"), "pg-1", "running", yes),
			"clone(pg-2)", "trying to bootstrap from leader 'pg-2'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := Decide(Input{Now: t0, Settings: settings(), Cluster: tc.c, PG: Postgres{DataDirEmpty: true}})
			if out.Plan.String() != tc.plan || out.Reason != tc.reason {
				t.Fatalf("got %q / %q, want %q / %q", out.Plan.String(), out.Reason, tc.plan, tc.reason)
			}
		})
	}
}
