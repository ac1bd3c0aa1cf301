// Package didyoumean finds the known name closest to a misspelled one, for "did you
// mean" hints in configuration messages.
package didyoumean

// Nearest returns the candidate closest to name by edit distance; the first of
// equally close ones (pass candidates sorted for a stable answer). "" without candidates.
func Nearest(name string, candidates []string) string {
	best, bestDist := "", -1
	for _, c := range candidates {
		d := Distance(name, c)
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// CloseEnough keeps hints to plausible typos: one edit, or a third of the name.
func CloseEnough(name, candidate string) bool {
	if candidate == "" {
		return false
	}
	d := Distance(name, candidate)
	return d <= 1 || d*3 <= len(name)
}

// Distance is the Levenshtein distance over bytes.
func Distance(a, b string) int {
	if len(a) > 256 || len(b) > 256 {
		// Long names are never typos of known names; keep fuzz targets cheap.
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
