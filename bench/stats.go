// Package bench holds the pure pieces of `make bench`: summaries of repeated samples, write
// gaps computed from a prober's log, wrk output parsing, target checks, the results table and
// the PNG timeline chart. The effects (processes, etcd, PostgreSQL) live in cmd/wardenbench.
package bench

import (
	"math"
	"sort"
)

// Summary is the median and range of repeated measurements.
type Summary struct {
	N      int     `json:"n"`
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// Summarize ignores NaN samples (a repetition that measured nothing, e.g. no write came back
// within the bound); N counts the samples used.
func Summarize(xs []float64) Summary {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return Summary{}
	}
	sort.Float64s(v)
	m := v[len(v)/2]
	if len(v)%2 == 0 {
		m = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return Summary{N: len(v), Median: m, Min: v[0], Max: v[len(v)-1]}
}
