package api

import (
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Patroni parses ?lag= with its PostgreSQL-style parse_int(value, 'B'): strtol with base 0
// (hex, octal, decimal), a float fallback, then a size unit relative to bytes.
var (
	hexRE = regexp.MustCompile(`^[+-]?0x[0-9a-fA-F]+`)
	octRE = regexp.MustCompile(`^[+-]?0[0-7]*`)
	decRE = regexp.MustCompile(`^[+-]?(?:0|[1-9][0-9]*)`)
	dblRE = regexp.MustCompile(`^[+-]?[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?`)
)

var byteUnits = map[string]float64{
	"B": 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40,
}

// parseLag returns the allowed lag in bytes; ok is false when Patroni would treat the
// value as absent (no lag limit).
func parseLag(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	val, unit, ok := strtol(s)
	if (!ok && strings.HasPrefix(unit, ".")) || (unit != "" && strings.ContainsRune(".eE", rune(unit[0]))) {
		var f float64
		f, unit, ok = strtod(s)
		val = f
	}
	if !ok {
		return 0, false
	}
	unit = strings.TrimSpace(unit)
	if unit != "" {
		mult, known := byteUnits[unit]
		if !known {
			return 0, false
		}
		val *= mult
	}
	r := rint(val)
	if r >= math.MaxInt64 || r <= math.MinInt64 {
		if r > 0 {
			return math.MaxInt64, true
		}
		return math.MinInt64, true
	}
	return int64(r), true
}

func strtol(s string) (float64, string, bool) {
	if m := hexRE.FindString(s); m != "" {
		neg := strings.HasPrefix(m, "-")
		digits := strings.TrimLeft(m, "+-")[2:]
		n, err := strconv.ParseUint(digits, 16, 64)
		if err != nil {
			return 0, s, false
		}
		v := float64(n)
		if neg {
			v = -v
		}
		return v, s[len(m):], true
	}
	for _, re := range []struct {
		re   *regexp.Regexp
		base int
	}{{octRE, 8}, {decRE, 10}} {
		m := re.re.FindString(s)
		if m == "" {
			continue
		}
		n, err := strconv.ParseInt(m, re.base, 64)
		if err != nil {
			return 0, s, false
		}
		return float64(n), s[len(m):], true
	}
	return 0, s, false
}

func strtod(s string) (float64, string, bool) {
	m := dblRE.FindString(s)
	if m == "" {
		return 0, s, false
	}
	f, err := strconv.ParseFloat(m, 64)
	if err != nil {
		return 0, s, false
	}
	return f, s[len(m):], true
}

// rint rounds half to even, as Patroni does.
func rint(v float64) float64 { return math.RoundToEven(v) }

// lagging mirrors Patroni: leader_optime and leader_optime > replayed_location + lag.
func lagging(leaderOptime, replayed uint64, maxLag int64) bool {
	if leaderOptime == 0 {
		return false
	}
	if maxLag >= 0 {
		return leaderOptime > replayed && leaderOptime-replayed > uint64(maxLag)
	}
	neg := uint64(-(maxLag + 1)) + 1
	if replayed < neg {
		return true
	}
	return leaderOptime > replayed-neg
}
