package compat

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"unicode"
)

func TestNormalizer(t *testing.T) {
	z := &Normalizer{Subst: map[string]string{"/tmp/x/p3": "<dir>", "c123-p3": "<scope>", "7316000000000000001": "<sysid>"},
		Ports: map[int]string{25432: "<pg-1.pg>"}}
	got := z.JSON([]byte(`{"state": "running", "xlog_location": 50331808, "conn_url": "postgres://127.0.0.1:25432/postgres",
		"port": 25432, "other": 50325432, "postmaster_start_time": "2026-12-07 23:18:01.549471+00:00",
		"slots": {"pg_2": 123}, "history": [[1, 25165984, "no recovery target specified", "2026-12-07T23:13:00.8+00:00", "pg-2"]],
		"lag": "unknown", "scope": "c123-p3", "data_dir": "/tmp/x/p3/pg-1/data", "lsn": "0/3000060"}`))
	want := map[string]any{"state": "running", "xlog_location": "<xlog_location>", "conn_url": "postgres://127.0.0.1:<pg-1.pg>/postgres",
		"port": "<pg-1.pg>", "other": float64(50325432), "postmaster_start_time": "<postmaster_start_time>",
		"slots":   map[string]any{"pg_2": "<lsn>"},
		"history": []any{[]any{float64(1), "<lsn>", "no recovery target specified", "<ts>", "pg-2"}},
		"lag":     "unknown", "scope": "<scope>", "data_dir": "<dir>/pg-1/data", "lsn": "<lsn>"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
	if got := z.JSON([]byte("7316000000000000001")); got != "<sysid>" {
		t.Errorf("a bare system identifier: got %v", got)
	}
	table := z.Table("+ Cluster: c123-p3 (7316000000000000001) ---+\n| pg-1   | 127.0.0.1:25432 | Leader  |  1 |\n")
	if want := []string{"+ Cluster: <scope> (<sysid>) ---+", "| pg-1 | 127.0.0.1:<pg-1.pg> | Leader | 1 |"}; !reflect.DeepEqual(table, want) {
		t.Errorf("table: got %q, want %q", table, want)
	}
}

func TestCompare(t *testing.T) {
	p, w := Snapshot{}, Snapshot{}
	p.Add("rest", "pg-1 GET /patroni", map[string]any{"status": 200.0, "body": map[string]any{"role": "master", "timeline": 1.0}})
	w.Add("rest", "pg-1 GET /patroni", map[string]any{"status": 200.0, "body": map[string]any{"role": "primary", "timeline": 1.0, "name": "pg-1"}})
	p.Add("file", "pg-1 pg_hba.conf", []string{"local all all trust", "", "host all all 127.0.0.1/32 md5"})
	w.Add("file", "pg-1 pg_hba.conf", []string{"local all all trust", "host all all 127.0.0.1/32 md5"})
	p.Add("dcs", "failover", "{}")
	got := Compare("leader", p, w)
	var keys []string
	for _, d := range got {
		keys = append(keys, d.Key()+" = "+d.Patroni+" / "+d.Warden)
	}
	want := []string{
		"leader | dcs | failover |  = \"{}\" / <absent>",
		"leader | file | pg-1 pg_hba.conf |  = line / <absent>",
		"leader | rest | pg-1 GET /patroni | $.body.name = <absent> / \"pg-1\"",
		"leader | rest | pg-1 GET /patroni | $.body.role = \"master\" / \"primary\"",
	}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(keys, "\n"), strings.Join(want, "\n"))
	}
}

func TestAllowlist(t *testing.T) {
	list, err := ParseAllowlist(strings.NewReader("# c\n\n3.0.2 | * | rest | * GET /patroni | $.body.role | docs/from-patroni.md#x | r\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := Difference{Step: "paused", Kind: "rest", Target: "pg-2 GET /patroni", Path: "$.body.role"}
	if Match(list, "3.0.2", d) == nil {
		t.Error("not matched for 3.0.2")
	}
	if Match(list, "4.1", d) != nil {
		t.Error("matched for 4.1")
	}
	d.Path = "$.body.role2"
	if Match(list, "3.0.2", d) != nil {
		t.Error("a pattern without * matched a longer path")
	}
	for _, bad := range []string{"3.0.2 | * | rest | x | y | docs/other.md#a | r", "3.0.2 | * | rest | x | y | docs/from-patroni.md#a |", "too | few"} {
		if _, err := ParseAllowlist(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	f, err := os.Open("allowlist.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries, err := ParseAllowlist(f)
	if err != nil {
		t.Fatalf("allowlist.txt: %v", err)
	}
	doc, err := os.ReadFile("../../docs/from-patroni.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, l := range strings.Split(string(doc), "\n") {
		if h, ok := strings.CutPrefix(strings.TrimLeft(l, "#"), " "); ok && strings.HasPrefix(l, "#") {
			anchors[githubAnchor(h)] = true
		}
	}
	for _, a := range entries {
		if _, anchor, _ := strings.Cut(a.Doc, "#"); !anchors[anchor] {
			t.Errorf("allowlist.txt line %d: docs/from-patroni.md has no section #%s", a.Line, anchor)
		}
	}
}

// githubAnchor is the fragment GitHub gives a heading.
func githubAnchor(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
