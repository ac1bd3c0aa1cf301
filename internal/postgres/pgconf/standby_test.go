package pgconf

import (
	"maps"
	"reflect"
	"testing"
)

func TestStandbyShortfalls(t *testing.T) {
	cd := ControlData{Raw: map[string]string{
		"max_connections setting":        "200",
		"max_worker_processes setting":   "8",
		"max_wal_senders setting":        "10",
		"max_prepared_xacts setting":     "5",
		"max_locks_per_xact setting":     "64",
		"wal_level setting":              "logical",
		"track_commit_timestamp setting": "on",
	}}
	tests := []struct {
		name   string
		values map[string]string
		major  int
		want   []Shortfall
	}{
		{"equal values", map[string]string{"max_connections": "200", "max_prepared_transactions": "5", "max_wal_senders": "10"}, 15, nil},
		{"higher values", map[string]string{"max_connections": "300", "max_worker_processes": "16"}, 15, nil},
		{"lower values in table order", map[string]string{
			"max_prepared_transactions": "0", "max_connections": " 100 ", "max_wal_senders": "5", "wal_level": "replica", "track_commit_timestamp": "off",
		}, 15, []Shortfall{{"max_connections", 100, 200}, {"max_wal_senders", 5, 10}, {"max_prepared_transactions", 0, 5}}},
		{"max_wal_senders only from 12", map[string]string{"max_wal_senders": "5"}, 11, nil},
		{"not an integer", map[string]string{"max_connections": "lots"}, 15, nil},
		{"missing everywhere", map[string]string{}, 15, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := StandbyShortfalls(tc.values, cd, tc.major); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	if got := StandbyShortfalls(map[string]string{"max_connections": "1"}, ControlData{Raw: map[string]string{}}, 15); got != nil {
		t.Errorf("a control file without the line: %v", got)
	}
}

func TestRaiseForStandby(t *testing.T) {
	params := map[string]string{"max_connections": "100", "work_mem": "8MB"}
	short := []Shortfall{{"max_connections", 100, 200}}
	got := RaiseForStandby(params, short)
	if want := map[string]string{"max_connections": "200", "work_mem": "8MB"}; !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if params["max_connections"] != "100" {
		t.Error("the configured parameters were modified")
	}
	if s := short[0].String(); s != "max_connections = 100 is lower than on the primary (200)" {
		t.Errorf("String() = %q", s)
	}
}
