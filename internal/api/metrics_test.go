package api

import "testing"

// The indexes are Patroni 4.1's PostgresqlState values, which monitoring rules compare.
func TestPostgresStateIndex(t *testing.T) {
	for state, want := range map[string]float64{
		"initializing new cluster": 0, "creating replica": 4, "running": 5, "starting": 6,
		"stopped": 12, "crashed": 14, "unknown": -1, "": -1,
	} {
		if got := postgresStateIndex(state); got != want {
			t.Errorf("postgresStateIndex(%q) = %v, want %v", state, got, want)
		}
	}
}
