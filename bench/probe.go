package bench

import "math"

// Sample is one write attempt of a prober. Times are seconds relative to the fault (negative
// before it); End is when the client learned the outcome.
type Sample struct {
	Start float64 `json:"t"`
	End   float64 `json:"end"`
	OK    bool    `json:"ok"`
	// Port is the PostgreSQL port that accepted the write (0 on failure).
	Port int `json:"port,omitempty"`
	// Via names the prober: "multi" for the multi-host DSN, or a node name for a direct one.
	Via string `json:"via"`
	Err string `json:"err,omitempty"`
}

// FirstOK is the end time of the first successful attempt that started at or after from,
// among samples accepted by keep; NaN when there is none.
func FirstOK(s []Sample, from float64, keep func(Sample) bool) float64 {
	best := math.NaN()
	for _, x := range s {
		if x.OK && x.Start >= from && (keep == nil || keep(x)) && (math.IsNaN(best) || x.End < best) {
			best = x.End
		}
	}
	return best
}

// LastOK is the end time of the last successful attempt accepted by keep; NaN when none.
func LastOK(s []Sample, keep func(Sample) bool) float64 {
	best := math.NaN()
	for _, x := range s {
		if x.OK && (keep == nil || keep(x)) && (math.IsNaN(best) || x.End > best) {
			best = x.End
		}
	}
	return best
}

// LongestGap is the longest time between consecutive successful writes whose gap overlaps
// [from, to]: the last success before from counts as the gap's start, and a window that ends
// without a success counts up to to. It returns the gap's length and start.
func LongestGap(s []Sample, from, to float64, keep func(Sample) bool) (gap, at float64) {
	var oks []float64
	for _, x := range s {
		if x.OK && (keep == nil || keep(x)) {
			oks = append(oks, x.End)
		}
	}
	sortFloats(oks)
	prev := math.NaN()
	for _, t := range oks {
		if t < from {
			prev = t
			continue
		}
		if t > to {
			break
		}
		start := prev
		if math.IsNaN(start) {
			start = from
		}
		if t-start > gap {
			gap, at = t-start, start
		}
		prev = t
	}
	start := prev
	if math.IsNaN(start) {
		start = from
	}
	// A success after the window still closes a gap that began inside it.
	end := to
	for _, t := range oks {
		if t > to {
			end = t
			break
		}
	}
	if end-start > gap && start < to {
		gap, at = end-start, start
	}
	return gap, at
}

// ByVia keeps the samples of one prober.
func ByVia(via string) func(Sample) bool { return func(x Sample) bool { return x.Via == via } }

func sortFloats(v []float64) {
	for i := 1; i < len(v); i++ {
		for j := i; j > 0 && v[j] < v[j-1]; j-- {
			v[j], v[j-1] = v[j-1], v[j]
		}
	}
}
