package ctl

import (
	"strings"
	"testing"

	"github.com/warden-ha/warden/internal/cluster"
)

func TestParseGlobal(t *testing.T) {
	a := newApp(strings.NewReader(""), &strings.Builder{}, &strings.Builder{}, nil)
	rest, err := a.parseGlobal([]string{"-c", "x.yml", "--dcs-url=etcd3://h:1", "-k", "query", "-c", "SELECT 1", "-d", "db"})
	if err != nil {
		t.Fatal(err)
	}
	if a.configFile != "x.yml" || a.dcsURL != "etcd3://h:1" || !a.insecure || strings.Join(rest, " ") != "query -c SELECT 1 -d db" {
		t.Errorf("config=%q dcs=%q insecure=%v rest=%q", a.configFile, a.dcsURL, a.insecure, rest)
	}
	if _, err := a.parseGlobal([]string{"-c"}); err == nil {
		t.Error("-c without a value accepted")
	}
}

func TestDumpYAMLLikePyYAML(t *testing.T) {
	got := dumpYAML(map[string]any{
		"ttl": 30.0, "ratio": 0.5, "flag": true, "none": nil, "empty": map[string]any{}, "list": []any{},
		"postgresql": map[string]any{"pg_hba": []any{"host all all 0.0.0.0/0 md5"}, "parameters": map[string]any{"archive_mode": "on", "x": "a: b", "y": "*", "z": "123", "w": ""}},
		"seq":        []any{map[string]any{"a": 1, "b": []any{"c"}}},
	})
	want := `empty: {}
flag: true
list: []
none: null
postgresql:
  parameters:
    archive_mode: 'on'
    w: ''
    x: 'a: b'
    y: '*'
    z: '123'
  pg_hba:
  - host all all 0.0.0.0/0 md5
ratio: 0.5
seq:
- a: 1
  b:
  - c
ttl: 30
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if f := flowYAML(map[string]any{"nofailover": true, "replicatefrom": "pg 1"}); f != "{nofailover: true, replicatefrom: pg 1}" {
		t.Errorf("flow %q", f)
	}
}

func TestUnifiedDiffGroups(t *testing.T) {
	before := strings.Join([]string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"}, "\n") + "\n"
	after := strings.Join([]string{"A", "b", "c", "d", "e", "f", "g", "h", "i", "j", "K"}, "\n") + "\n"
	got := strings.Join(unifiedDiff(before, after), "\n")
	want := "--- \n+++ \n@@ -1,4 +1,4 @@\n-a\n+A\n b\n c\n d\n@@ -8,4 +8,4 @@\n h\n i\n j\n-k\n+K"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if d := unifiedDiff("a\n", "a\n"); d != nil {
		t.Errorf("diff of equal texts: %q", d)
	}
}

func TestTopologyWithoutLeader(t *testing.T) {
	lsn := uint64(0)
	c := &cluster.Cluster{Members: []cluster.Member{
		{Name: "b", ConnURL: "postgres://h2:5432/postgres", State: "running", Role: "replica", XLogLocation: &lsn},
		{Name: "a", ConnURL: "postgres://h1:5432/postgres", State: "stopped", Role: "replica"},
	}}
	got := renderMembers(c, "x", false, "topology")
	want := `+ Cluster: x (uninitialized) -------+----+-----------+
| Member | Host | Role    | State   | TL | Lag in MB |
+--------+------+---------+---------+----+-----------+
| + a    | h1   | Replica | stopped |    |   unknown |
| + b    | h2   | Replica | running |    |         0 |
+--------+------+---------+---------+----+-----------+
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestListQuorumStandby(t *testing.T) {
	lsn := uint64(0)
	q := 1
	c := &cluster.Cluster{
		Leader: &cluster.Leader{Name: "a"},
		Config: map[string]any{"synchronous_mode": "quorum"},
		Sync:   &cluster.SyncState{Leader: "a", SyncStandby: []string{"b", "c"}, Quorum: &q},
		Members: []cluster.Member{
			{Name: "a", ConnURL: "postgres://h1:5432/postgres", State: "running", Role: "primary", XLogLocation: &lsn},
			{Name: "b", ConnURL: "postgres://h2:5432/postgres", State: "streaming", Role: "replica", XLogLocation: &lsn},
			{Name: "c", ConnURL: "postgres://h3:5432/postgres", State: "streaming", Role: "replica", XLogLocation: &lsn},
		},
	}
	got := renderMembers(c, "x", false, "list")
	for _, row := range []string{"| b      | h2   | Quorum Standby |", "| c      | h3   | Quorum Standby |", "| a      | h1   | Leader         |"} {
		if !strings.Contains(got, row) {
			t.Errorf("missing %q in\n%s", row, got)
		}
	}
	c.Config["synchronous_mode"] = true
	if got := renderMembers(c, "x", false, "list"); !strings.Contains(got, "| b      | h2   | Sync Standby |") {
		t.Errorf("synchronous_mode on: want Sync Standby rows, got\n%s", got)
	}
}
