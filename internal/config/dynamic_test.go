package config

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseDynamicDefaults(t *testing.T) {
	d, warns := ParseDynamic(nil)
	want := DefaultDynamic()
	if d.TTL != want.TTL || d.LoopWait != 10*time.Second || d.RetryTimeout != 10*time.Second ||
		d.MaximumLagOnFailover != 1048576 || d.MaximumLagOnSyncnode != -1 || d.PrimaryStartTimeout != 300*time.Second ||
		d.PrimaryStopTimeout != 0 || !d.UseSlots || d.SynchronousNodeCount != 1 || len(warns) != 0 {
		t.Errorf("defaults = %+v, %v", d, warns)
	}
	if d.TimingNote != "" {
		t.Errorf("defaults adjusted: %s", d.TimingNote)
	}
}

func TestParseDynamicValues(t *testing.T) {
	raw := map[string]any{
		"ttl": 20, "loop_wait": "5", "retry_timeout": 7.0,
		"maximum_lag_on_failover": 100, "maximum_lag_on_syncnode": 200,
		"master_start_timeout": 10, "primary_start_timeout": 20, "master_stop_timeout": 3,
		"synchronous_mode": "on", "synchronous_mode_strict": "yes", "synchronous_node_count": 2,
		"failsafe_mode": true, "check_timeline": 1, "pause": true, "max_timelines_history": 5,
		"postgresql": map[string]any{
			"use_pg_rewind": true, "use_slots": false, "pg_hba": []any{"host all all 0.0.0.0/0 md5"},
			"parameters":    map[string]any{"max_connections": 200, "wal_keep_segment": 8, "citus.node": "x"},
			"recovery_conf": map[string]any{"restore_command": "cp %f %p"},
		},
		"standby_cluster": map[string]any{"host": "10.0.0.1", "port": 5432, "bogus": 1},
		"slots":           map[string]any{"s1": map[string]any{"type": "physical"}},
	}
	d, warns := ParseDynamic(raw)
	if d.TTL != 20*time.Second || d.LoopWait != 5*time.Second || d.RetryTimeout != 7*time.Second {
		t.Errorf("timings = %v %v %v", d.TTL, d.LoopWait, d.RetryTimeout)
	}
	if d.PrimaryStartTimeout != 20*time.Second || d.PrimaryStopTimeout != 3*time.Second {
		t.Errorf("primary_* must win over master_*; master_* alone is accepted: %v %v", d.PrimaryStartTimeout, d.PrimaryStopTimeout)
	}
	if !d.SynchronousMode || !d.SynchronousModeStrict || d.SynchronousNodeCount != 2 || !d.FailsafeMode || !d.CheckTimeline || !d.Pause {
		t.Errorf("booleans = %+v", d)
	}
	if !d.UsePgRewind || d.UseSlots || len(d.PgHBA) != 1 || d.RecoveryConf["restore_command"] != "cp %f %p" || d.MaxTimelinesHistory != 5 {
		t.Errorf("postgresql = %+v", d)
	}
	if d.Parameters["max_connections"] != 200 || d.Parameters["citus.node"] != "x" {
		t.Errorf("command-line and dotted parameters are accepted from DCS: %v", d.Parameters)
	}
	if _, ok := d.Parameters["wal_keep_segment"]; !ok {
		t.Error("a name the binaries may know is removed while loading")
	}
	if d.StandbyCluster["host"] != "10.0.0.1" || d.StandbyCluster["bogus"] != nil || d.Slots["s1"] == nil {
		t.Errorf("standby/slots = %v %v", d.StandbyCluster, d.Slots)
	}
	wantWarning(t, warns, "standby_cluster.bogus", 0, "unknown key")
	if len(warns) != 1 {
		t.Errorf("warnings:\n%s", listWarnings(warns))
	}
	if d.Raw["ttl"] != 20 {
		t.Error("Raw must be the input")
	}
}

func TestParseDynamicFallsBack(t *testing.T) {
	tests := []struct {
		name  string
		raw   map[string]any
		key   string
		check func(Dynamic) bool
	}{
		{"ttl not a number", map[string]any{"ttl": "abc"}, "ttl", func(d Dynamic) bool { return d.TTL == 30*time.Second }},
		{"ttl a list", map[string]any{"ttl": []any{1}}, "ttl", func(d Dynamic) bool { return d.TTL == 30*time.Second }},
		{"loop_wait fraction", map[string]any{"loop_wait": 2.5}, "loop_wait", func(d Dynamic) bool { return d.LoopWait == 10*time.Second }},
		{"bad bool", map[string]any{"synchronous_mode": "perhaps"}, "synchronous_mode", func(d Dynamic) bool { return !d.SynchronousMode }},
		{"postgresql not a map", map[string]any{"postgresql": "x"}, "postgresql", func(d Dynamic) bool { return d.UseSlots }},
		{"parameters a list", map[string]any{"postgresql": map[string]any{"parameters": []any{"a"}}}, "postgresql.parameters", func(d Dynamic) bool { return len(d.Parameters) == 0 }},
		{"node count zero", map[string]any{"synchronous_node_count": 0}, "synchronous_node_count", func(d Dynamic) bool { return d.SynchronousNodeCount == 1 }},
		{"syncnode lag below -1", map[string]any{"maximum_lag_on_syncnode": -5}, "maximum_lag_on_syncnode", func(d Dynamic) bool { return d.MaximumLagOnSyncnode == -1 }},
		{"local key in dcs", map[string]any{"postgresql": map[string]any{"data_dir": "/x"}}, "postgresql.data_dir", func(Dynamic) bool { return true }},
		{"unknown key", map[string]any{"loop_wiat": 1}, "loop_wiat", func(d Dynamic) bool { return d.LoopWait == 10*time.Second }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, warns := ParseDynamic(tt.raw)
			if !tt.check(d) {
				t.Errorf("value not as expected: %+v", d)
			}
			wantWarning(t, warns, tt.key, 0, "")
		})
	}
}

func TestAdjustTimings(t *testing.T) {
	tests := []struct {
		name                         string
		ttl, loop, retry             int
		wantTTL, wantLoop, wantRetry int
		wantNote                     string
	}{
		{"defaults", 30, 10, 10, 30, 10, 10, ""},
		{"short but consistent", 3, 1, 1, 3, 1, 1, ""},
		{"exact", 5, 1, 2, 5, 1, 2, ""},
		{"loop_wait lowered", 20, 10, 5, 20, 10, 5, ""},
		{"loop_wait lowered to fit", 20, 12, 5, 20, 10, 5, `Violated the rule "loop_wait + 2*retry_timeout <= ttl", where ttl=20 and retry_timeout=5. Adjusting loop_wait from 12 to 10`},
		{"patroni default ttl 20", 20, 10, 10, 20, 1, 9, `Violated the rule "loop_wait + 2*retry_timeout <= ttl", where ttl=20. Adjusting loop_wait from 10 to 1 and retry_timeout from 10 to 9`},
		{"watchdog setup", 20, 2, 10, 20, 1, 9, `Adjusting loop_wait from 2 to 1 and retry_timeout from 10 to 9`},
		{"loop zero", 30, 0, 10, 30, 1, 10, "loop_wait=0 can't be smaller than 1, adjusting..."},
		{"retry zero", 30, 1, 0, 30, 1, 1, "retry_timeout=0 can't be smaller than 1, adjusting..."},
		{"ttl one", 1, 1, 1, 3, 1, 1, "ttl=1 can't be smaller than 3, adjusting..."},
		{"ttl 10 retry 10", 10, 10, 10, 10, 1, 4, "where ttl=10. Adjusting loop_wait from 10 to 1 and retry_timeout from 10 to 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := ParseDynamic(map[string]any{"ttl": tt.ttl, "loop_wait": tt.loop, "retry_timeout": tt.retry})
			sec := time.Second
			if d.TTL != time.Duration(tt.wantTTL)*sec || d.LoopWait != time.Duration(tt.wantLoop)*sec || d.RetryTimeout != time.Duration(tt.wantRetry)*sec {
				t.Errorf("in effect ttl=%s loop_wait=%s retry_timeout=%s, want %d %d %d", d.TTL, d.LoopWait, d.RetryTimeout, tt.wantTTL, tt.wantLoop, tt.wantRetry)
			}
			if d.TTL < d.LoopWait+2*d.RetryTimeout {
				t.Errorf("rule broken in effect: %+v", d)
			}
			if (d.TimingNote == "") != (tt.wantNote == "") || !strings.Contains(d.TimingNote, tt.wantNote) {
				t.Errorf("note = %q, want %q", d.TimingNote, tt.wantNote)
			}
			if tt.wantNote != "" && !strings.Contains(d.TimingsNote(), fmt.Sprintf("(in effect: ttl=%d loop_wait=%d retry_timeout=%d)", tt.wantTTL, tt.wantLoop, tt.wantRetry)) {
				t.Errorf("TimingsNote = %q", d.TimingsNote())
			}
		})
	}
}

func TestParameterCheckWarnsAndKeeps(t *testing.T) {
	yml := baseConfig + "  parameters:\n    summarise_wal: on\n    work_mem: 8MB\n"
	check := func(name string) string {
		if name == "summarise_wal" {
			return "did you mean summarize_wal?"
		}
		return ""
	}
	cfg, warns, err := LoadChecked(writeFile(t, yml), nil, check)
	if err != nil {
		t.Fatal(err)
	}
	wantWarning(t, warns, "postgresql.parameters.summarise_wal", 0, "did you mean summarize_wal?")
	if cfg.PostgreSQL.Parameters["summarise_wal"] != "on" || cfg.PostgreSQL.Parameters["work_mem"] != "8MB" {
		t.Errorf("a name the check warns about is kept: %v", cfg.PostgreSQL.Parameters)
	}
	for _, w := range warns {
		if strings.Contains(w.Key, "work_mem") {
			t.Errorf("unexpected warning %s", w)
		}
	}
}

func TestEtcdKeyPassword(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/w.yml"
	yml := "scope: s\nname: n\nrestapi: {listen: 127.0.0.1:8008}\netcd3:\n  hosts: 127.0.0.1:2379\n  protocol: https\n  cert: /c.pem\n  key: /k.pem\n  key_password: hunter2\npostgresql: {listen: 127.0.0.1:5432, data_dir: /d}\n"
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, warnings, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range warnings {
		if strings.Contains(w.String(), "key_password") {
			t.Errorf("key_password reported: %s", w)
		}
	}
	if cfg.Etcd.KeyPassword.Reveal() != "hunter2" || fmt.Sprint(cfg.Etcd) == "" || strings.Contains(fmt.Sprintf("%+v", cfg.Etcd), "hunter2") {
		t.Errorf("etcd key_password not read or not redacted: %+v", cfg.Etcd)
	}
}

func TestDynamicSlots(t *testing.T) {
	d, warns := ParseDynamic(map[string]any{
		"permanent_slots": map[string]any{
			"keep":     nil,
			"cdc":      map[string]any{"database": "app", "plugin": "test_decoding"},
			"phys2":    map[string]any{"type": "physical", "database": "ignored"},
			"Bad-Name": nil,
			"half":     map[string]any{"type": "logical", "database": "app"},
			"odd":      "yes",
		},
		"ignore_slots": []any{map[string]any{"name": "mine"}, map[string]any{"type": "logical", "plugin": "pgoutput"}, "x"},
	})
	want := []PermanentSlot{{Name: "cdc", Type: "logical", Database: "app", Plugin: "test_decoding"}, {Name: "keep", Type: "physical"}, {Name: "phys2", Type: "physical"}}
	if !reflect.DeepEqual(d.PermanentSlots, want) {
		t.Errorf("permanent slots = %+v", d.PermanentSlots)
	}
	if len(d.IgnoreSlots) != 2 || d.IgnoreSlots[0].Name != "mine" || d.IgnoreSlots[1] != (SlotMatcher{Type: "logical", Plugin: "pgoutput"}) {
		t.Errorf("ignore_slots = %+v", d.IgnoreSlots)
	}
	wantWarning(t, warns, "permanent_slots.Bad-Name", 0, "invalid permanent replication slot name")
	wantWarning(t, warns, "permanent_slots.half", 0, "a logical slot needs database and plugin")
	wantWarning(t, warns, "permanent_slots.odd", 0, "expected a mapping")
	wantWarning(t, warns, "ignore_slots[2]", 0, "expected a mapping")
	if len(warns) != 4 {
		t.Errorf("warnings:\n%s", listWarnings(warns))
	}
}

// Patroni 4.1's cluster_type restricts a permanent physical slot to clusters with a
// primary or to standby clusters.
func TestDynamicSlotsClusterType(t *testing.T) {
	d, warns := ParseDynamic(map[string]any{"slots": map[string]any{
		"dr":   map[string]any{"type": "physical", "cluster_type": "primary"},
		"back": map[string]any{"cluster_type": "standby"},
		"both": map[string]any{"cluster_type": "everywhere"},
		"cdc":  map[string]any{"database": "app", "plugin": "pgoutput", "cluster_type": "primary"},
	}})
	want := []PermanentSlot{{Name: "back", Type: "physical", ClusterType: "standby"}, {Name: "both", Type: "physical"},
		{Name: "cdc", Type: "logical", Database: "app", Plugin: "pgoutput"}, {Name: "dr", Type: "physical", ClusterType: "primary"}}
	if !reflect.DeepEqual(d.PermanentSlots, want) {
		t.Errorf("permanent slots = %+v", d.PermanentSlots)
	}
	wantWarning(t, warns, "slots.both.cluster_type", 0, "expected primary or standby")
	wantWarning(t, warns, "slots.cdc.cluster_type", 0, "only used for physical slots")
	if len(warns) != 2 {
		t.Errorf("warnings:\n%s", listWarnings(warns))
	}
	for _, tc := range []struct {
		slot             int
		primary, standby bool
	}{{0, false, true}, {1, true, true}, {2, true, true}, {3, true, false}} {
		s := d.PermanentSlots[tc.slot]
		if s.InCluster(false) != tc.primary || s.InCluster(true) != tc.standby {
			t.Errorf("%s: in a cluster with a primary %v, in a standby cluster %v", s.Name, s.InCluster(false), s.InCluster(true))
		}
	}
}

func TestParseDynamicQuorum(t *testing.T) {
	d, warns := ParseDynamic(map[string]any{"synchronous_mode": "quorum", "synchronous_node_count": 2})
	if len(warns) != 0 {
		t.Fatalf("warnings: %v", warns)
	}
	if !d.SynchronousMode || !d.SynchronousQuorum || d.SynchronousNodeCount != 2 {
		t.Fatalf("got %+v", d)
	}
	d, _ = ParseDynamic(map[string]any{"synchronous_mode": true})
	if !d.SynchronousMode || d.SynchronousQuorum {
		t.Fatalf("synchronous_mode true: got %+v", d)
	}
}

// TestDynamicStandbyCluster: standby_cluster makes a standby cluster only with host, port
// or restore_command (Patroni's is_standby_cluster); a bad port is a warning naming the
// key; Remote identifies what the standby leader follows.
func TestDynamicStandbyCluster(t *testing.T) {
	tests := []struct {
		name   string
		sc     map[string]any
		remote string // "" : not a standby cluster
		warn   string
	}{
		{name: "host and port", sc: map[string]any{"host": "10.0.0.9", "port": 5433}, remote: "10.0.0.9:5433"},
		{name: "port as a string, slot", sc: map[string]any{"host": "db", "port": "5432", "primary_slot_name": "dr"}, remote: "db:5432/dr"},
		{name: "host only", sc: map[string]any{"host": "db"}, remote: "db:5432"},
		{name: "archive only", sc: map[string]any{"restore_command": "cp /a/%f %p"}, remote: "archive"},
		{name: "only a slot: not a standby cluster", sc: map[string]any{"primary_slot_name": "dr"}},
		{name: "empty values: not a standby cluster", sc: map[string]any{"host": "", "port": nil}},
		{name: "bad port", sc: map[string]any{"host": "db", "port": 70000}, remote: "db:5432", warn: "standby_cluster.port"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, warns := ParseDynamic(map[string]any{"standby_cluster": tc.sc})
			got := ""
			if d.Standby != nil {
				got = d.Standby.Remote()
			}
			if got != tc.remote {
				t.Errorf("remote = %q, want %q (%+v)", got, tc.remote, d.Standby)
			}
			text := fmt.Sprint(warns)
			if (tc.warn == "") != (len(warns) == 0) || !strings.Contains(text, tc.warn) {
				t.Errorf("warnings = %v, want one naming %q", warns, tc.warn)
			}
		})
	}
	d, _ := ParseDynamic(map[string]any{"standby_cluster": map[string]any{"host": "db", "create_replica_methods": []any{"basebackup"},
		"archive_cleanup_command": "x", "recovery_min_apply_delay": "5min"}})
	if sb := d.Standby; sb == nil || !reflect.DeepEqual(sb.CreateReplicaMethods, []string{"basebackup"}) || sb.ArchiveCleanupCommand != "x" || sb.RecoveryMinApplyDelay != "5min" {
		t.Errorf("standby = %+v", d.Standby)
	}
}
