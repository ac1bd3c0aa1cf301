// Package compat compares what a client or a script can observe of a real Patroni cluster
// and of a Warden cluster run through the same scenario (see README.md). This file and
// diff.go, allowlist.go are the pure parts: normalising observations, comparing them and
// matching differences against the allowlist. The harness itself is behind the build tag
// `compat`.
package compat

import (
	"encoding/json"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Normalizer rewrites what legitimately varies between two runs: directories, scope,
// ports, system identifiers (by text substitution), and timestamps, LSNs, pids, lags (by
// key or by shape).
type Normalizer struct {
	// Subst maps a literal (a directory, a scope, "127.0.0.1:25432") to its placeholder;
	// longer literals are replaced first.
	Subst map[string]string
	// Ports maps a port number to its placeholder ("<pg-1.pg>"), for JSON numbers.
	Ports map[int]string
}

// volatile JSON keys: their values differ between any two runs.
var volatile = map[string]bool{
	"xlog_location": true, "location": true, "received_location": true, "replayed_location": true,
	"write_location": true, "flush_location": true, "replay_lsn": true, "receive_lsn": true,
	"optime": true, "lag": true, "receive_lag": true, "replay_lag": true, "pid": true,
	"postmaster_start_time": true, "replayed_timestamp": true, "dcs_last_seen": true,
	"database_system_identifier": true, "lsn": true, "received_tli": false,
}

var (
	tsRe     = regexp.MustCompile(`\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:?\d\d|Z| UTC)?`)
	lsnRe    = regexp.MustCompile(`\b[0-9A-F]{1,8}/[0-9A-F]{1,8}\b`)
	bigNumRe = regexp.MustCompile(`\b\d{7,}\b`)
	numRe    = regexp.MustCompile(`\b\d{4,5}\b`)
	spacesRe = regexp.MustCompile(` {2,}`)
	dashesRe = regexp.MustCompile(`-{3,}`)
)

// Text replaces literals, timestamps and LSNs in s.
func (z *Normalizer) Text(s string) string {
	keys := make([]string, 0, len(z.Subst))
	for k := range z.Subst {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if len(keys[i]) != len(keys[j]) {
			return len(keys[i]) > len(keys[j])
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		s = strings.ReplaceAll(s, k, z.Subst[k])
	}
	s = tsRe.ReplaceAllString(s, "<ts>")
	s = numRe.ReplaceAllStringFunc(s, func(n string) string {
		p, _ := strconv.Atoi(n)
		if name, ok := z.Ports[p]; ok {
			return name
		}
		return n
	})
	return lsnRe.ReplaceAllString(s, "<lsn>")
}

// Table normalises patronictl output: column widths (which depend on the lengths of
// normalised values) and large numbers (LSNs in history) are erased.
func (z *Normalizer) Table(s string) []string {
	s = z.Text(s)
	s = bigNumRe.ReplaceAllString(s, "<n>")
	var out []string
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		l = spacesRe.ReplaceAllString(l, " ")
		out = append(out, dashesRe.ReplaceAllString(l, "---"))
	}
	return out
}

// JSON parses b and normalises it; a body that is not JSON is returned as normalised text.
func (z *Normalizer) JSON(b []byte) any {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return z.Text(strings.TrimSpace(string(b)))
	}
	switch v.(type) {
	case map[string]any, []any:
	default:
		// A bare value (the initialize key's system identifier, a plain-text answer).
		return z.Text(strings.TrimSpace(string(b)))
	}
	return z.Value("", v)
}

// Value normalises a decoded JSON value found under key.
func (z *Normalizer) Value(key string, v any) any {
	if volatile[key] && v != nil {
		if _, isStr := v.(string); isStr && key == "lag" {
			return v // "unknown" is meaningful
		}
		return "<" + key + ">"
	}
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			if key == "slots" {
				out[z.Text(k)] = "<lsn>"
				continue
			}
			out[z.Text(k)] = z.Value(k, val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = z.Value(key, val)
		}
		if key == "history" || key == "" {
			historyEntry(out)
		}
		return out
	case string:
		return z.Text(x)
	case float64:
		if p, ok := z.Ports[int(x)]; ok && x == float64(int(x)) {
			return p
		}
		return x
	}
	return v
}

// historyEntry blanks the LSN of a timeline history entry [tl, lsn, reason, ts, leader].
func historyEntry(a []any) {
	if len(a) >= 3 {
		if _, ok := a[0].(float64); ok {
			if _, ok := a[1].(float64); ok {
				a[1] = "<lsn>"
			}
		}
	}
}

// MetricNames lists the metric names of a Prometheus text exposition, sorted and unique.
func MetricNames(body string) []string {
	seen := map[string]bool{}
	for _, l := range strings.Split(body, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		name := l
		if i := strings.IndexAny(l, "{ "); i >= 0 {
			name = l[:i]
		}
		seen[name] = true
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Lines splits a normalised file; sorted when the order carries no meaning.
func (z *Normalizer) Lines(content string, sorted bool) []string {
	content = z.Text(content)
	if content == "" {
		return []string{}
	}
	ls := strings.Split(strings.TrimRight(content, "\n"), "\n")
	if sorted {
		sort.Strings(ls)
	}
	return ls
}
