package config

import (
	_ "embed"
	"sort"
	"strings"
)

// pg15_parameters.txt lists every PostgreSQL 15 parameter a configuration file may set:
// `SELECT name FROM pg_settings WHERE context <> 'internal'` on a running 15 server
// (`postgres --describe-config` leaves some out, application_name among them).
//
//go:embed pg15_parameters.txt
var pg15Parameters string

// legacyParameters are names Patroni accepts in parameters although
// PostgreSQL 15 does not list them: wal_keep_segments is translated to
// wal_keep_size, the recovery.conf names are moved to recovery_conf, and
// config_file is a command-line-only setting.
var legacyParameters = []string{
	"wal_keep_segments", "standby_mode", "trigger_file", "pause_at_recovery_target", "config_file",
}

// parameterSet and parameterNames are built once from embedded data;
// they are immutable after init, so they are not configuration state.
var (
	parameterSet   = buildParameterSet()
	parameterNames = sortedNames(parameterSet)
)

func sortedNames(set map[string]struct{}) []string {
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func buildParameterSet() map[string]struct{} {
	set := map[string]struct{}{}
	for _, line := range strings.Split(pg15Parameters, "\n") {
		if name := strings.TrimSpace(line); name != "" {
			set[strings.ToLower(name)] = struct{}{}
		}
	}
	for _, name := range legacyParameters {
		set[name] = struct{}{}
	}
	return set
}

// KnownParameter reports whether name is a PostgreSQL 15 parameter
// (case-insensitive, like PostgreSQL). Names with a dot are extension
// parameters (auto_explain.log_min_duration) and always known.
func KnownParameter(name string) bool {
	if strings.Contains(name, ".") {
		return true
	}
	_, ok := parameterSet[strings.ToLower(name)]
	return ok
}

// NearestParameter returns the known parameter closest to name by edit
// distance (ties broken alphabetically), for "did you mean" hints.
func NearestParameter(name string) string {
	n := nearest(strings.ToLower(name), parameterNames)
	if modern, ok := modernParameter[n]; ok {
		return modern
	}
	return n
}

// modernParameter points a typo of a legacy name at what PostgreSQL 15
// uses instead (Patroni translates wal_keep_segments to wal_keep_size).
var modernParameter = map[string]string{
	"wal_keep_segments": "wal_keep_size",
	"trigger_file":      "promote_trigger_file",
}

func nearest(name string, candidates []string) string {
	best, bestDist := "", -1
	for _, c := range candidates {
		d := editDistance(name, c)
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// closeEnough keeps "did you mean" hints to plausible typos.
func closeEnough(name, candidate string) bool {
	if candidate == "" {
		return false
	}
	d := editDistance(name, candidate)
	return d <= 1 || d*3 <= len(name)
}

// editDistance is the Levenshtein distance over bytes.
func editDistance(a, b string) int {
	if len(a) > 256 || len(b) > 256 {
		// Long names are never typos of GUCs; keep the fuzz target cheap.
		return max(len(a), len(b))
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
