package bench

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Wrk is what `wrk --latency` reports that the benchmark uses. Latencies in milliseconds.
type Wrk struct {
	RequestsPerSec float64 `json:"requests_per_sec"`
	P50            float64 `json:"p50_ms"`
	P99            float64 `json:"p99_ms"`
	Non2xx         int     `json:"non_2xx"`
	SocketErrors   string  `json:"socket_errors,omitempty"`
}

var (
	wrkRPS    = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	wrkPct    = regexp.MustCompile(`(?m)^\s+(50|99)(?:\.000)?%\s+([0-9.]+)(us|ms|s|m)\s*$`)
	wrkNon2xx = regexp.MustCompile(`(?m)Non-2xx or 3xx responses:\s+(\d+)`)
	wrkSock   = regexp.MustCompile(`(?m)Socket errors:\s*(.+)$`)
)

// ParseWrk reads wrk's text output (run with --latency).
func ParseWrk(out string) (Wrk, error) {
	var w Wrk
	m := wrkRPS.FindStringSubmatch(out)
	if m == nil {
		return w, fmt.Errorf("wrk output has no Requests/sec line")
	}
	w.RequestsPerSec, _ = strconv.ParseFloat(m[1], 64)
	found := 0
	for _, p := range wrkPct.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(p[2], 64)
		switch p[3] {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		case "m":
			v *= 60000
		}
		if p[1] == "50" {
			w.P50 = v
		} else {
			w.P99 = v
		}
		found++
	}
	if found < 2 {
		return w, fmt.Errorf("wrk output has no latency distribution (run with --latency)")
	}
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		w.Non2xx, _ = strconv.Atoi(m[1])
	}
	if m := wrkSock.FindStringSubmatch(out); m != nil {
		w.SocketErrors = strings.TrimSpace(m[1])
	}
	return w, nil
}
