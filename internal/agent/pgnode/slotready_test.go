package pgnode

import "testing"

func TestSlotSafe(t *testing.T) {
	tests := []struct {
		name                  string
		seen, physical, local uint32
		want                  bool
	}{
		{"feedback covers the copy", 100, 105, 110, true},
		{"all equal", 100, 100, 100, true},
		{"physical slot behind what the leader kept when protection began", 100, 99, 110, false},
		{"copy older than the feedback: its rows may be gone", 100, 105, 104, false},
		{"across xid wraparound", 4294967290, 3, 10, true},
		{"across wraparound, copy too old", 4294967290, 3, 4294967295, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := slotSafe(tc.seen, tc.physical, tc.local); got != tc.want {
				t.Errorf("slotSafe(%d, %d, %d) = %v, want %v", tc.seen, tc.physical, tc.local, got, tc.want)
			}
		})
	}
}
