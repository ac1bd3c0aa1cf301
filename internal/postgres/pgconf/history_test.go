package pgconf

import (
	"reflect"
	"testing"
)

func TestParseHistory(t *testing.T) {
	in := "1\t0/3000148\tno recovery target specified\n\n# comment\n2\t0/5000000\tat restore point \"x y\"\n"
	got, err := ParseHistory([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []HistoryLine{
		{ParentTimeline: 1, SwitchLSN: 0x3000148, Reason: "no recovery target specified"},
		{ParentTimeline: 2, SwitchLSN: 0x5000000, Reason: `at restore point "x y"`},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v", got)
	}
	for _, bad := range []string{"x\t0/1\tr", "1\tzz\tr", "1", "0\t0/1\tr"} {
		if _, err := ParseHistory([]byte(bad)); err == nil {
			t.Errorf("ParseHistory(%q) accepted", bad)
		}
	}
}

func TestNeedsRewind(t *testing.T) {
	hist := []HistoryLine{{1, 0x3000148, ""}, {2, 0x5000000, ""}}
	tests := map[string]struct {
		local   LocalPosition
		primary int
		want    bool
	}{
		"ahead of primary timeline":                {LocalPosition{Timeline: 4, LSN: 1}, 3, true},
		"same timeline":                            {LocalPosition{Timeline: 3, LSN: 0xffffffff}, 3, false},
		"replica behind switch point":              {LocalPosition{Timeline: 1, LSN: 0x3000148}, 3, false},
		"replica past switch point":                {LocalPosition{Timeline: 1, LSN: 0x3000149}, 3, true},
		"former primary at switch point":           {LocalPosition{Timeline: 2, LSN: 0x5000000, WasPrimary: true}, 3, true},
		"former primary checkpoint ends at switch": {LocalPosition{Timeline: 2, LSN: 0x4FFFF90, WasPrimary: true, CheckpointEnd: 0x5000000}, 3, false},
		"former primary checkpoint unknown":        {LocalPosition{Timeline: 2, LSN: 0x4FFFF90, WasPrimary: true}, 3, true},
		"local timeline not in history":            {LocalPosition{Timeline: 5, LSN: 1}, 7, true},
		"history skips local timeline":             {LocalPosition{Timeline: 2, LSN: 1}, 3, true},
	}
	skipping := []HistoryLine{{1, 0x100, ""}, {3, 0x200, ""}}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := hist
			if name == "history skips local timeline" {
				h = skipping
			}
			if got := NeedsRewind(tc.local, tc.primary, h); got != tc.want {
				t.Fatalf("got %v want %v", got, tc.want)
			}
		})
	}
}

func FuzzParseHistory(f *testing.F) {
	f.Add([]byte("1\t0/3000148\tno recovery target specified\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		lines, err := ParseHistory(b)
		if err != nil {
			return
		}
		for _, l := range lines {
			if l.ParentTimeline <= 0 {
				t.Fatalf("non-positive timeline %+v", l)
			}
		}
	})
}
