package pgnode

import (
	"maps"
	"testing"

	"github.com/warden-ha/warden/internal/ha"
)

// TestKeptPositions: the leader publishes every slot it keeps, members' physical slots
// (restart_lsn) as well as permanent ones (confirmed_flush_lsn for logical), and no slot
// it does not want or that has no position yet.
func TestKeptPositions(t *testing.T) {
	targets := ha.SlotTargets{Primary: true, Want: []ha.Slot{
		{Name: "pg_2", Type: ha.SlotPhysical},
		{Name: "backup", Type: ha.SlotPhysical, Permanent: true},
		{Name: "cdc", Type: ha.SlotLogical, Database: "postgres", Plugin: "pgoutput", Permanent: true},
		{Name: "pg_3", Type: ha.SlotPhysical},
	}}
	have := []ha.SlotState{
		{Name: "pg_2", Type: ha.SlotPhysical, RestartLSN: 100},
		{Name: "backup", Type: ha.SlotPhysical, RestartLSN: 90},
		{Name: "cdc", Type: ha.SlotLogical, RestartLSN: 50, ConfirmedFlushLSN: 80},
		{Name: "pg_3", Type: ha.SlotPhysical},
		{Name: "by_hand", Type: ha.SlotPhysical, RestartLSN: 70},
	}
	want := map[string]uint64{"pg_2": 100, "backup": 90, "cdc": 80}
	if got := keptPositions(targets, have); !maps.Equal(got, want) {
		t.Errorf("keptPositions = %v, want %v", got, want)
	}
}
