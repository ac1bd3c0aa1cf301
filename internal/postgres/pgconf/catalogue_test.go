package pgconf

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// The testdata files are `postgres --describe-config` of Debian's 15.x, 17.x and 18.x.
func catalogue(t *testing.T, major int) *Catalogue {
	t.Helper()
	out, err := os.ReadFile(fmt.Sprintf("testdata/describe-config-%d.txt", major))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseDescribeConfig(string(out), major)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCatalogueKnownPerMajor(t *testing.T) {
	for _, tc := range []struct {
		name  string
		known map[int]bool
	}{
		{"shared_buffers", map[int]bool{15: true, 17: true, 18: true}},
		{"SHARED_BUFFERS", map[int]bool{15: true, 17: true, 18: true}},
		{"summarize_wal", map[int]bool{15: false, 17: true, 18: true}},
		{"sync_replication_slots", map[int]bool{15: false, 17: true, 18: true}},
		{"io_method", map[int]bool{15: false, 17: false, 18: true}},
		{"promote_trigger_file", map[int]bool{15: true, 17: false, 18: false}},
		{"pg_stat_statements.max", map[int]bool{15: true, 17: true, 18: true}},
		{"primary_conninfo", map[int]bool{15: true, 17: true, 18: true}},
		{"summarise_wal", map[int]bool{15: false, 17: false, 18: false}},
	} {
		for major, want := range tc.known {
			if got := catalogue(t, major).Known(tc.name); got != want {
				t.Errorf("PostgreSQL %d Known(%q) = %v, want %v", major, tc.name, got, want)
			}
		}
	}
}

func TestCatalogueContextsAndDefaults(t *testing.T) {
	c := catalogue(t, 18)
	p, ok := c.Lookup("io_method")
	if !ok || p.Context != "postmaster" || p.Type != "ENUM" || p.Default != "worker" {
		t.Errorf("io_method = %+v", p)
	}
	p, _ = c.Lookup("summarize_wal")
	if p.Context != "sighup" || p.Type != "BOOLEAN" {
		t.Errorf("summarize_wal = %+v", p)
	}
	if _, err := ParseDescribeConfig("name\tonly\n", 18); err == nil {
		t.Error("a truncated line must be an error")
	}
	if _, err := ParseDescribeConfig("\n", 18); err == nil {
		t.Error("an empty list must be an error")
	}
}

func TestCatalogueProblems(t *testing.T) {
	for _, tc := range []struct {
		major      int
		name, want string
	}{
		{17, "summarise_wal", "PostgreSQL 17 has no parameter summarise_wal (did you mean summarize_wal?)"},
		{18, "io_methd", "(did you mean io_method?)"},
		{17, "io_method", "(new in PostgreSQL 18, this is 17)"},
		{15, "summarize_wal", "(new in PostgreSQL 17, this is 15)"},
		{15, "summarise_wal", "(did you mean summarize_wal? new in PostgreSQL 17, this is 15)"},
		{17, "force_parallel_mode", "(removed in PostgreSQL 16, use debug_parallel_query)"},
		{18, "promote_trigger_file", "(removed in PostgreSQL 16)"},
		{17, "max_relication_slots", "did you mean max_replication_slots?"},
		{18, "completely_unrelated_thing", "not a PostgreSQL 18 parameter"},
		{17, "wal_keep_segments", ""},
		{17, "summarize_wal", ""},
	} {
		got := catalogue(t, tc.major).Problem(tc.name)
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("PostgreSQL %d Problem(%q) = %q, want %q", tc.major, tc.name, got, tc.want)
		}
	}
}
