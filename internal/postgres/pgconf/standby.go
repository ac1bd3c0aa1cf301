package pgconf

import (
	"fmt"
	"strconv"
	"strings"
)

// standbyMinimums are the parameters a hot standby must set at least as high as the
// primary whose WAL it replays (PostgreSQL's CheckRequiredParameterValues), each with
// the pg_controldata line that records the primary's value. pg_controldata also records
// wal_level and track_commit_timestamp, but PostgreSQL 15 never stops a standby over
// them: commit timestamps follow the primary's setting during replay, and Warden never
// lets wal_level drop below replica.
var standbyMinimums = []struct {
	name, control string
	minMajor      int
}{
	{"max_connections", "max_connections setting", 0},
	{"max_worker_processes", "max_worker_processes setting", 0},
	{"max_wal_senders", "max_wal_senders setting", 12},
	{"max_prepared_transactions", "max_prepared_xacts setting", 0},
	{"max_locks_per_transaction", "max_locks_per_xact setting", 0},
}

// Shortfall is a standby parameter set lower than the primary's value recorded in the
// control file.
type Shortfall struct {
	Name    string
	Value   int // configured or in force on the standby
	Primary int // from pg_controldata
}

func (s Shortfall) String() string {
	return fmt.Sprintf("%s = %d is lower than on the primary (%d)", s.Name, s.Value, s.Primary)
}

// StandbyShortfalls lists the parameters in values (configured, or in force on a running
// standby) lower than the control file's record of the primary's. A standby started with
// one refuses to start; a running one whose replay meets the primary's raise pauses
// recovery ("hot standby is not possible because of insufficient parameter settings")
// until it is restarted with a value at least as high. A name missing from values or
// from the control data, or a value that is not an integer, is not compared.
func StandbyShortfalls(values map[string]string, cd ControlData, major int) []Shortfall {
	var out []Shortfall
	for _, p := range standbyMinimums {
		if major < p.minMajor {
			continue
		}
		v, okV := atoi(values[p.name])
		primary, okP := atoi(cd.Raw[p.control])
		if okV && okP && v < primary {
			out = append(out, Shortfall{Name: p.name, Value: v, Primary: primary})
		}
	}
	return out
}

// RaiseForStandby returns params with each shortfall raised to the primary's value, so a
// standby always starts (Patroni's effective_configuration). params is not modified.
func RaiseForStandby(params map[string]string, short []Shortfall) map[string]string {
	out := make(map[string]string, len(params))
	for k, v := range params {
		out[k] = v
	}
	for _, s := range short {
		out[s.Name] = strconv.Itoa(s.Primary)
	}
	return out
}

func atoi(s string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	return n, err == nil
}
