package pgconf

import (
	"bufio"
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite golden files in testdata")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *rewrite {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -rewrite): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s mismatch:\n--- got ---\n%s\n--- want ---\n%s", name, got, want)
	}
}

func TestRenderConfGolden(t *testing.T) {
	m := Merge(
		map[string]string{"max_connections": "200", "wal_level": "logical", "shared_buffers": "256MB", "hot_standby": "off"},
		map[string]string{"work_mem": "4MB", "max_connections": "10", "log_line_prefix": `%m [%p] it's \ ok`, "primary_conninfo": "host=x"},
		ServerInputs{ListenAddresses: "127.0.0.1", Port: 5433, ClusterName: "demo", Major: 15},
	)
	out, err := RenderConf(ConfParams{
		Include:    BaseConf,
		Parameters: m.Parameters,
		HBAFile:    "/data/pg_hba.conf",
		IdentFile:  "/data/pg_ident.conf",
		Major:      15,
		Recovery: map[string]string{
			"primary_conninfo":         PrimaryConnInfo(ReplicaConnInfo(ConnInfo{User: "replicator", PassFile: "/home/pg/pgpass", Host: "10.0.0.1", Port: "5432"}, "node-2", 15)),
			"primary_slot_name":        "node_2",
			"recovery_target_timeline": "latest",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "postgresql.conf", out)
	golden(t, "warnings.txt", []byte(strings.Join(m.Warnings, "\n")+"\n"))
}

func TestRenderConfRefusesInjection(t *testing.T) {
	for name, p := range map[string]map[string]string{
		"newline in value": {"work_mem": "1MB\nfsync = 'off'"},
		"NUL in value":     {"work_mem": "1MB\x00"},
		"CR in value":      {"work_mem": "1MB\rfsync=off"},
		"name with space":  {"work_mem = '1'\nfsync": "off"},
		"name with equals": {"a=b": "c"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := RenderConf(ConfParams{Parameters: p}); err == nil {
				t.Fatal("expected an error")
			}
		})
	}
}

func TestMergeForcedRules(t *testing.T) {
	in := ServerInputs{ListenAddresses: "*", Port: 5432, ClusterName: "c", Major: 15}
	tests := map[string]struct {
		dynamic, local map[string]string
		name, want     string
	}{
		"default max_connections":          {nil, nil, "max_connections", "100"},
		"dcs max_connections accepted":     {map[string]string{"max_connections": "25"}, nil, "max_connections", "25"},
		"dcs max_connections too low":      {map[string]string{"max_connections": "24"}, nil, "max_connections", "100"},
		"local max_connections ignored":    {nil, map[string]string{"max_connections": "500"}, "max_connections", "100"},
		"wal_level hot_standby renamed":    {map[string]string{"wal_level": "hot_standby"}, nil, "wal_level", "replica"},
		"wal_level minimal refused":        {map[string]string{"wal_level": "minimal"}, nil, "wal_level", "replica"},
		"max_wal_senders min 3":            {map[string]string{"max_wal_senders": "2"}, nil, "max_wal_senders", "10"},
		"max_replication_slots min 4":      {map[string]string{"max_replication_slots": "4"}, nil, "max_replication_slots", "4"},
		"wal_keep_size default":            {nil, nil, "wal_keep_size", "128MB"},
		"wal_keep_segments to size":        {map[string]string{"wal_keep_segments": "4"}, nil, "wal_keep_size", "64MB"},
		"wal_keep_size too small":          {map[string]string{"wal_keep_size": "8MB"}, nil, "wal_keep_size", "128MB"},
		"hot_standby off refused":          {map[string]string{"hot_standby": "off"}, nil, "hot_standby", "on"},
		"wal_log_hints off accepted (4.x)": {map[string]string{"wal_log_hints": "off"}, nil, "wal_log_hints", "off"},
		"port always computed":             {map[string]string{"port": "1"}, map[string]string{"port": "2"}, "port", "5432"},
		"local ordinary wins over dcs":     {map[string]string{"work_mem": "1MB"}, map[string]string{"work_mem": "2MB"}, "work_mem", "2MB"},
		"names are case-insensitive":       {map[string]string{"Max_Connections": "300"}, nil, "max_connections", "300"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := Merge(tc.dynamic, tc.local, in)
			if got := m.Parameters[tc.name]; got != tc.want {
				t.Fatalf("%s = %q, want %q (warnings %q)", tc.name, got, tc.want, m.Warnings)
			}
		})
	}
}

func TestMergeMovesRecoveryParameters(t *testing.T) {
	m := Merge(nil, map[string]string{"restore_command": "cp %f %p"}, ServerInputs{Major: 15})
	if _, ok := m.Parameters["restore_command"]; ok {
		t.Fatal("restore_command left among server parameters")
	}
	if m.Recovery["restore_command"] != "cp %f %p" {
		t.Fatalf("recovery = %v", m.Recovery)
	}
}

func TestCommandLineOptions(t *testing.T) {
	m := Merge(nil, nil, ServerInputs{ListenAddresses: "127.0.0.1", Port: 5433, ClusterName: "demo", Major: 15})
	got := CommandLineOptions(m.Parameters, 15)
	want := []string{
		"--listen_addresses=127.0.0.1", "--port=5433", "--cluster_name=demo", "--wal_level=replica",
		"--hot_standby=on", "--max_connections=100", "--max_wal_senders=10", "--max_prepared_transactions=0",
		"--max_locks_per_transaction=64", "--track_commit_timestamp=off", "--max_replication_slots=10",
		"--max_worker_processes=8", "--wal_log_hints=on",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestParseBool(t *testing.T) {
	for in, want := range map[string]int{"on": 1, "ON": 1, "t": 1, "yes": 1, "1": 1, "of": 0, "off": 0, "f": 0, "no": 0, "0": 0, "o": -1, "": -1, "maybe": -1} {
		v, ok := ParseBool(in)
		got := -1
		if ok {
			got = map[bool]int{true: 1, false: 0}[v]
		}
		if got != want {
			t.Errorf("ParseBool(%q) = %d, want %d", in, got, want)
		}
	}
}

// parseConf is a small reader of postgresql.conf lines as PostgreSQL's lexer
// sees them: name = 'quoted value' with ” and \\ escapes.
func parseConf(t *testing.T, out []byte) map[string]string {
	got := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "include ") {
			continue
		}
		name, rest, ok := strings.Cut(line, " = '")
		if !ok || !strings.HasSuffix(rest, "'") {
			t.Fatalf("malformed line %q", line)
		}
		body := rest[:len(rest)-1]
		var v strings.Builder
		for i := 0; i < len(body); i++ {
			c := body[i]
			if c == '\'' || c == '\\' {
				if i+1 >= len(body) || body[i+1] != c {
					t.Fatalf("unescaped %q in line %q", c, line)
				}
				i++
			}
			v.WriteByte(c)
		}
		if _, dup := got[name]; dup {
			t.Fatalf("duplicate %s", name)
		}
		got[name] = v.String()
	}
	return got
}

func FuzzRenderConf(f *testing.F) {
	f.Add("work_mem", "4MB", "search_path", `"$user", public`)
	f.Add("a", "x'\nfsync = 'off", "b", `\'`)
	f.Add("ext.setting", `it\'s`, "c", "")
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2 string) {
		params := map[string]string{n1: v1, n2: v2}
		out, err := RenderConf(ConfParams{Parameters: params})
		if err != nil {
			return
		}
		got := parseConf(t, out)
		want := map[string]string{}
		for n, v := range params {
			l := strings.ToLower(n)
			if !IsRecoveryParameter(l) && l != "hba_file" && l != "ident_file" {
				want[n] = v
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip: got %q want %q\n%s", got, want, out)
		}
	})
}
