package compat

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Observation is one normalised thing a client can observe.
type Observation struct {
	Kind   string // rest, request, dcs, ctl, file, timing
	Target string // "pg-1 GET /patroni", "members/pg-1", "3.0.2 list", "pg-1 postgresql.conf"
	Value  any    // decoded JSON, or []string (lines)
}

// Snapshot is everything observed of one cluster after one step, by Kind+" "+Target.
type Snapshot map[string]Observation

// Add records an observation.
func (s Snapshot) Add(kind, target string, v any) {
	s[kind+" "+target] = Observation{Kind: kind, Target: target, Value: v}
}

// Difference is one place where Patroni and Warden part.
type Difference struct {
	Step, Kind, Target, Path string
	Patroni, Warden          string
}

// Key is the difference in the allowlist's notation.
func (d Difference) Key() string {
	return strings.Join([]string{d.Step, d.Kind, d.Target, d.Path}, " | ")
}

const absent = "<absent>"

// Compare lists the differences between Patroni's and Warden's snapshots of one step.
func Compare(step string, p, w Snapshot) []Difference {
	keys := map[string]bool{}
	for k := range p {
		keys[k] = true
	}
	for k := range w {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var out []Difference
	for _, k := range sorted {
		po, pok := p[k]
		wo, wok := w[k]
		base := po
		if !pok {
			base = wo
		}
		add := func(path, pv, wv string) {
			out = append(out, Difference{Step: step, Kind: base.Kind, Target: base.Target, Path: path, Patroni: pv, Warden: wv})
		}
		switch {
		case !pok:
			add("", absent, short(wo.Value))
		case !wok:
			add("", short(po.Value), absent)
		default:
			pl, pIsLines := po.Value.([]string)
			wl, wIsLines := wo.Value.([]string)
			if pIsLines && wIsLines {
				diffLines(pl, wl, add)
			} else {
				diffJSON("$", po.Value, wo.Value, add)
			}
		}
	}
	return out
}

func short(v any) string {
	if l, ok := v.([]string); ok {
		return fmt.Sprintf("%d lines", len(l))
	}
	b, _ := json.Marshal(v)
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// diffJSON walks two decoded JSON values and reports each differing leaf by its path.
func diffJSON(path string, a, b any, add func(path, pv, wv string)) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		names := make([]string, 0, len(keys))
		for k := range keys {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			av, ain := am[k]
			bv, bin := bm[k]
			p := path + "." + k
			switch {
			case !ain:
				add(p, absent, short(bv))
			case !bin:
				add(p, short(av), absent)
			default:
				diffJSON(p, av, bv, add)
			}
		}
		return
	}
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if aok && bok {
		for i := 0; i < max(len(as), len(bs)); i++ {
			p := fmt.Sprintf("%s[%d]", path, i)
			switch {
			case i >= len(as):
				add(p, absent, short(bs[i]))
			case i >= len(bs):
				add(p, short(as[i]), absent)
			default:
				diffJSON(p, as[i], bs[i], add)
			}
		}
		return
	}
	if sa, sb := short(a), short(b); sa != sb {
		add(path, sa, sb)
	}
}

// diffLines reports the lines only one side has (longest common subsequence); the path is
// the line itself.
func diffLines(a, b []string, add func(path, pv, wv string)) {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			add(b[j], absent, "line")
			j++
		default:
			add(a[i], "line", absent)
			i++
		}
	}
}
