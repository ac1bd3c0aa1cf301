package pgconf

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// recoveryParameters are the names that belong in recovery.conf (or its PG12+
// section of postgresql.conf) rather than among the server parameters.
var recoveryParameters = map[string]bool{
	"archive_cleanup_command": true, "pause_at_recovery_target": true,
	"primary_conninfo": true, "primary_slot_name": true, "promote_trigger_file": true,
	"recovery_end_command": true, "recovery_min_apply_delay": true, "recovery_target": true,
	"recovery_target_action": true, "recovery_target_inclusive": true, "recovery_target_lsn": true,
	"recovery_target_name": true, "recovery_target_time": true, "recovery_target_timeline": true,
	"recovery_target_xid": true, "restore_command": true, "standby_mode": true, "trigger_file": true,
}

// IsRecoveryParameter reports whether the (lower-case) name is a recovery parameter.
func IsRecoveryParameter(name string) bool { return recoveryParameters[strings.ToLower(name)] }

// forced describes a parameter Warden always passes on the postgres command
// line (so ALTER SYSTEM cannot override it) with its default and the rule a
// value from the DCS must satisfy to replace the default. Local (YAML)
// values never do: these must be equal on every member.
type forced struct {
	name     string
	def      string
	accept   func(string) bool
	minMajor int
}

func never(string) bool { return false }

func atLeast(n int) func(string) bool {
	return func(v string) bool {
		i, err := strconv.Atoi(strings.TrimSpace(v))
		return err == nil && i >= n
	}
}

// forcedParameters follows A.13, in Patroni's command-line order. hot_standby
// and wal_log_hints follow Patroni 4.x: hot_standby only if true, wal_log_hints
// any boolean.
var forcedParameters = []forced{
	{"listen_addresses", "", never, 0},
	{"port", "", never, 0},
	{"cluster_name", "", never, 0},
	{"wal_level", "replica", func(v string) bool {
		switch strings.ToLower(v) {
		case "hot_standby", "replica", "logical":
			return true
		}
		return false
	}, 0},
	{"hot_standby", "on", func(v string) bool { b, ok := ParseBool(v); return ok && b }, 0},
	{"max_connections", "100", atLeast(25), 0},
	{"max_wal_senders", "10", atLeast(3), 0},
	{"wal_keep_segments", "8", atLeast(1), 0},
	{"wal_keep_size", "128MB", func(v string) bool { mb, ok := parseMB(v); return ok && mb >= 16 }, 13},
	{"max_prepared_transactions", "0", atLeast(0), 0},
	{"max_locks_per_transaction", "64", atLeast(32), 0},
	{"track_commit_timestamp", "off", func(v string) bool { _, ok := ParseBool(v); return ok }, 0},
	{"max_replication_slots", "10", atLeast(4), 0},
	{"max_worker_processes", "8", atLeast(2), 0},
	{"wal_log_hints", "on", func(v string) bool { _, ok := ParseBool(v); return ok }, 0},
}

func forcedByName(name string) (forced, bool) {
	for _, f := range forcedParameters {
		if f.name == name {
			return f, true
		}
	}
	return forced{}, false
}

// ServerInputs are the values Warden computes itself rather than accepting
// from any configuration.
type ServerInputs struct {
	ListenAddresses string // "0.0.0.0" or "127.0.0.1,10.0.0.1"
	Port            int
	ClusterName     string // the scope
	Major           int
}

// Merged is the result of Merge.
type Merged struct {
	// Parameters are the effective server parameters, names lower-cased.
	Parameters map[string]string
	// Recovery holds recovery parameters found among the parameters; they
	// belong to recovery_conf (A.13).
	Recovery map[string]string
	// Warnings explain every value that was ignored or replaced.
	Warnings []string
}

// Merge computes the effective server parameters from the dynamic (DCS)
// parameters, the local (YAML) parameters and the forced ones (A.13): defaults
// for the forced parameters, overridden by DCS values that satisfy their
// rule, then all other DCS parameters, then local parameters except forced
// names, then the computed listen_addresses, port and cluster_name.
func Merge(dynamic, local map[string]string, in ServerInputs) Merged {
	m := Merged{Parameters: map[string]string{}, Recovery: map[string]string{}}
	for _, f := range forcedParameters {
		if f.def != "" && f.name != "wal_keep_segments" && f.name != "wal_keep_size" {
			m.Parameters[f.name] = f.def
		}
	}
	for _, name := range sortedKeys(dynamic) {
		m.set(name, dynamic[name], "dynamic configuration", true)
	}
	for _, name := range sortedKeys(local) {
		m.set(name, local[name], "local configuration", false)
	}
	m.Parameters["listen_addresses"] = in.ListenAddresses
	m.Parameters["port"] = strconv.Itoa(in.Port)
	m.Parameters["cluster_name"] = in.ClusterName

	if in.Major >= 10 && m.Parameters["wal_level"] == "hot_standby" {
		m.Parameters["wal_level"] = "replica"
	}
	// Patroni converts between the two names assuming 16MB segments so one
	// configuration works across versions.
	if in.Major >= 13 {
		segs := m.pop("wal_keep_segments", "8")
		if _, ok := m.Parameters["wal_keep_size"]; !ok {
			n, _ := strconv.Atoi(segs)
			m.Parameters["wal_keep_size"] = strconv.Itoa(n*16) + "MB"
		}
	} else if in.Major > 0 {
		size := m.pop("wal_keep_size", "128MB")
		if _, ok := m.Parameters["wal_keep_segments"]; !ok {
			mb, _ := parseMB(size)
			m.Parameters["wal_keep_segments"] = strconv.Itoa((mb + 8) / 16)
		}
	}
	sort.Strings(m.Warnings)
	return m
}

func (m *Merged) set(name, value, source string, fromDCS bool) {
	lower := strings.ToLower(name)
	if IsRecoveryParameter(lower) {
		m.Recovery[lower] = value
		return
	}
	f, isForced := forcedByName(lower)
	switch {
	case !isForced:
		m.Parameters[lower] = value
	case fromDCS && f.accept(value):
		m.Parameters[lower] = value
	case fromDCS:
		m.Warnings = append(m.Warnings, fmt.Sprintf("ignoring %s=%q from %s: value not accepted for this parameter", lower, value, source))
	default:
		m.Warnings = append(m.Warnings, fmt.Sprintf("ignoring %s=%q from %s: it can only be changed in the dynamic configuration", lower, value, source))
	}
}

func (m *Merged) pop(name, def string) string {
	v, ok := m.Parameters[name]
	delete(m.Parameters, name)
	if !ok {
		return def
	}
	return v
}

// CommandLineOptions returns the forced parameters present in params as
// "--name=value" arguments for the postgres binary, in Patroni's order.
// wal_keep_segments/wal_keep_size stay in postgresql.conf only.
func CommandLineOptions(params map[string]string, major int) []string {
	var opts []string
	for _, f := range forcedParameters {
		if f.name == "wal_keep_segments" || f.name == "wal_keep_size" || major < f.minMajor {
			continue
		}
		if v, ok := params[f.name]; ok {
			opts = append(opts, "--"+f.name+"="+v)
		}
	}
	return opts
}

// ParseBool accepts the boolean spellings PostgreSQL accepts (on/off,
// true/false, yes/no, 1/0 and unambiguous prefixes of the words).
func ParseBool(v string) (value, ok bool) {
	s := strings.ToLower(strings.TrimSpace(v))
	if s == "" {
		return false, false
	}
	switch {
	case s == "o":
		return false, false
	case s == "on", s == "1", strings.HasPrefix("true", s), strings.HasPrefix("yes", s):
		return true, true
	case len(s) >= 2 && strings.HasPrefix("off", s), s == "0", strings.HasPrefix("false", s), strings.HasPrefix("no", s):
		return false, true
	}
	return false, false
}

// parseMB parses a memory size ("128MB", "1GB", "16384kB", "64" meaning MB)
// into megabytes.
func parseMB(v string) (int, bool) {
	s := strings.TrimSpace(v)
	i := strings.IndexFunc(s, func(r rune) bool { return !unicode.IsDigit(r) })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	n, err := strconv.Atoi(num)
	if err != nil {
		return 0, false
	}
	switch unit {
	case "", "MB":
		return n, true
	case "kB":
		return n / 1024, true
	case "GB":
		return n * 1024, true
	case "TB":
		return n * 1024 * 1024, true
	}
	return 0, false
}
