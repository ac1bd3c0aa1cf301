package pgnode

import (
	"maps"
	"strings"
	"testing"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/postgres"
	"github.com/warden-ha/warden/internal/postgres/pgconf"
)

func TestDropUnsafeKeepsTheRestOfTheFile(t *testing.T) {
	m := pgconf.Merge(map[string]string{
		"work_mem":                   "8MB",
		"application_name":           "x'\nlisten_addresses = '*",
		"log_line_prefix":            "%m [%p] 'quoted' \\ ok",
		"bad name":                   "1",
		"restore_command":            "cp %f\x00",
		"log_min_duration_statement": "250ms",
	}, nil, pgconf.ServerInputs{ListenAddresses: "127.0.0.1", Port: 5432, ClusterName: "batman", Major: 15})
	dropUnsafe(&m)
	for _, gone := range []string{"application_name", "bad name"} {
		if _, ok := m.Parameters[gone]; ok {
			t.Errorf("%s kept", gone)
		}
	}
	if _, ok := m.Recovery["restore_command"]; ok {
		t.Error("restore_command with a NUL kept")
	}
	warnings := strings.Join(m.Warnings, "\n")
	for _, want := range []string{`refusing application_name="x'\nlisten_addresses = '*": the value contains a line break`, `refusing parameter "bad name"`, "refusing recovery parameter restore_command"} {
		if !strings.Contains(warnings, want) {
			t.Errorf("warnings lack %q:\n%s", want, warnings)
		}
	}
	conf, err := pgconf.RenderConf(pgconf.ConfParams{Parameters: m.Parameters, Major: 15})
	if err != nil {
		t.Fatalf("the remaining parameters do not render: %v", err)
	}
	for _, want := range []string{"work_mem = '8MB'\n", `log_line_prefix = '%m [%p] ''quoted'' \\ ok'` + "\n", "listen_addresses = '127.0.0.1'\n"} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("postgresql.conf lacks %q:\n%s", want, conf)
		}
	}
	if strings.Count(string(conf), "listen_addresses") != 1 {
		t.Errorf("a value added a setting:\n%s", conf)
	}
}

func TestPendingReason(t *testing.T) {
	rows := []postgres.Setting{
		{Name: "shared_buffers", Current: "16MB", VarType: "integer", Context: "postmaster", PendingRestart: true},
		{Name: "shared_preload_libraries", Current: "", VarType: "string", Context: "postmaster", PendingRestart: true},
		{Name: "max_connections", Current: "100", VarType: "integer", Context: "postmaster"},
		{Name: "max_wal_senders", Current: "10", VarType: "integer", Context: "postmaster"},
		{Name: "wal_log_hints", Current: "on", VarType: "bool", Context: "postmaster"},
		{Name: "wal_level", Current: "replica", VarType: "enum", Context: "postmaster"},
		{Name: "port", Current: "5432", VarType: "integer", Context: "postmaster"},
		{Name: "huge_pages", Current: "try", VarType: "enum", Context: "postmaster"},
		// Left by the point-in-time recovery of a custom bootstrap.
		{Name: "recovery_target_name", Current: "before_drop", VarType: "string", Context: "postmaster", PendingRestart: true},
	}
	want := map[string]string{
		"shared_buffers": "32MB", "max_connections": "200", "max_wal_senders": " 10", "wal_log_hints": "true",
		"wal_level": "Replica", "port": "5432", "huge_pages": "off",
	}
	cmdline := map[string]bool{"max_connections": true, "max_wal_senders": true, "wal_log_hints": true, "wal_level": true, "port": true}
	got := pendingReason(rows, want, cmdline)
	expect := map[string]cluster.ParamChange{
		"shared_buffers":           {OldValue: "16MB", NewValue: "32MB"},
		"shared_preload_libraries": {OldValue: "", NewValue: "?"},
		"max_connections":          {OldValue: "100", NewValue: "200"},
	}
	if !maps.Equal(got, expect) {
		t.Fatalf("pendingReason = %v, want %v", got, expect)
	}
}
