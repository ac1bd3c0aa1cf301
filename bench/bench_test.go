package bench

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []float64
		want Summary
	}{
		{"empty", nil, Summary{}},
		{"odd", []float64{3, 1, 2}, Summary{N: 3, Median: 2, Min: 1, Max: 3}},
		{"even", []float64{4, 1, 3, 2}, Summary{N: 4, Median: 2.5, Min: 1, Max: 4}},
		{"nan ignored", []float64{math.NaN(), 5}, Summary{N: 1, Median: 5, Min: 5, Max: 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Summarize(tc.in); got != tc.want {
				t.Errorf("Summarize(%v) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func samples(spec string) []Sample {
	// "t:ok" pairs, e.g. "-0.1:1 0.0:0"; End = Start + 0.01.
	var out []Sample
	for _, f := range strings.Fields(spec) {
		var s Sample
		p := strings.Split(f, ":")
		_, _ = fmtSscan(p[0], &s.Start)
		s.End = s.Start + 0.01
		s.OK = p[1] == "1"
		s.Via = "multi"
		out = append(out, s)
	}
	return out
}

func TestGaps(t *testing.T) {
	s := samples("-0.04:1 -0.02:1 0.00:0 0.5:0 1.00:1 1.02:1 3.00:1")
	if got := FirstOK(s, 0, nil); math.Abs(got-1.01) > 1e-9 {
		t.Errorf("FirstOK = %v, want 1.01", got)
	}
	if got := FirstOK(s, 4, nil); !math.IsNaN(got) {
		t.Errorf("FirstOK after the log = %v, want NaN", got)
	}
	// The gap open at the window's end is closed by the first success after it.
	gap, at := LongestGap(s, 0, 0.9, nil)
	if math.Abs(gap-1.02) > 1e-9 || math.Abs(at-(-0.01)) > 1e-9 {
		t.Errorf("LongestGap in [0,0.9] = %v at %v, want 1.02 at -0.01", gap, at)
	}
	gap, at = LongestGap(s, 0, 1.5, nil)
	if math.Abs(gap-1.98) > 1e-9 || math.Abs(at-1.03) > 1e-9 {
		t.Errorf("LongestGap in [0,1.5] = %v at %v, want 1.98 at 1.03", gap, at)
	}
	if got := LastOK(s, nil); math.Abs(got-3.01) > 1e-9 {
		t.Errorf("LastOK = %v", got)
	}
	if got := FirstOK(s, 0, ByVia("pg-1")); !math.IsNaN(got) {
		t.Errorf("FirstOK of another prober = %v, want NaN", got)
	}
	// No success at all: the whole window is a gap.
	gap, _ = LongestGap(samples("0.1:0 0.2:0"), 0, 2, nil)
	if gap != 2 {
		t.Errorf("LongestGap without successes = %v, want 2", gap)
	}
}

const wrkOut = `Running 10s test @ http://127.0.0.1:8008/primary
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    17.30ms   45.11ms 283.52ms   91.23%
    Req/Sec   480.12    120.30   700.00     70.00%
  Latency Distribution
     50%    3.01ms
     75%    5.20ms
     90%   40.00ms
     99%  172.40ms
  9600 requests in 10.01s, 2.10MB read
  Socket errors: connect 0, read 12, write 0, timeout 0
  Non-2xx or 3xx responses: 3
Requests/sec:    959.04
Transfer/sec:    214.57KB
`

func TestParseWrk(t *testing.T) {
	w, err := ParseWrk(wrkOut)
	if err != nil {
		t.Fatal(err)
	}
	want := Wrk{RequestsPerSec: 959.04, P50: 3.01, P99: 172.4, Non2xx: 3, SocketErrors: "connect 0, read 12, write 0, timeout 0"}
	if w != want {
		t.Errorf("ParseWrk = %+v, want %+v", w, want)
	}
	w, err = ParseWrk(strings.NewReplacer("3.01ms", "310.00us", "172.40ms", "1.20s").Replace(wrkOut))
	if err != nil || math.Abs(w.P50-0.31) > 1e-9 || w.P99 != 1200 {
		t.Errorf("units: %+v %v", w, err)
	}
	if _, err := ParseWrk("unable to connect"); err == nil {
		t.Error("ParseWrk accepted output without figures")
	}
}

func TestRender(t *testing.T) {
	rows := []Row{
		{Scenario: "graceful stop", Unit: "s", Warden: Summarize([]float64{0.2, 0.3, 0.25}), Patroni: Summarize([]float64{1.6, 1.5, 1.7}), Target: AtMost(0.5, "≤ 0.5 s")},
		{Scenario: "switchover", Unit: "s", WNote: "not supported yet", Patroni: Summarize([]float64{1.3}), Target: AtMost(0.5, "≤ 0.5 s")},
		{Scenario: "etcd writes", Unit: "/min", Warden: Summarize([]float64{6}), Patroni: Summarize([]float64{8}), Target: RatioAtMost(0.5, "≤ ½ Patroni's")},
	}
	var b bytes.Buffer
	if err := Render(&b, rows); err != nil {
		t.Fatal(err)
	}
	want := `scenario      | Warden median (min–max) | Patroni median (min–max) | W/P   | target        | met?
--------------+-------------------------+--------------------------+-------+---------------+-----
graceful stop | 0.25 (0.20–0.30) s      | 1.60 (1.50–1.70) s       | 0.16× | ≤ 0.5 s       | yes
switchover    | not supported yet       | 1.30 s                   | —     | ≤ 0.5 s       | ?
etcd writes   | 6.00 /min               | 8.00 /min                | 0.75× | ≤ ½ Patroni's | NO
`
	if b.String() != want {
		t.Errorf("Render:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestChartEncodes(t *testing.T) {
	var b bytes.Buffer
	tr := []Trace{{Title: "node death", Tool: "warden", Samples: samples("-1:1 0:0 1:1")}, {Title: "node death", Tool: "patroni", Samples: samples("-1:1 0:0 20:1")}}
	if err := Chart(&b, "T", tr, 3); err != nil || !bytes.HasPrefix(b.Bytes(), []byte("\x89PNG")) {
		t.Errorf("Chart: %v, %d bytes", err, b.Len())
	}
}
