package pgnode

import (
	"slices"
	"testing"
)

func TestReplicaArgv(t *testing.T) {
	const scope, dir, dsn = "demo", "/data/pg", "host=10.0.0.1 port=5432 user=replicator dbname=postgres application_name=pg-2"
	std := []string{"--scope=demo", "--role=replica", "--datadir=/data/pg", "--connstring=" + dsn}
	for _, tc := range []struct {
		name string
		m    ReplicaMethod
		want []string
	}{
		{"command split, standard four, then the keys by name",
			ReplicaMethod{Name: "wal_g", Config: map[string]any{"command": "/usr/bin/wal-g 'backup fetch'", "threads": 4, "delta": true, "target": "LATEST"}},
			append(append([]string{"/usr/bin/wal-g", "backup fetch"}, std...), "--delta=True", "--target=LATEST", "--threads=4")},
		{"flags are passed on when no_params is unset (Patroni)",
			ReplicaMethod{Name: "pgbackrest", Config: map[string]any{"command": "restore", "keep_data": true, "no_leader": true, "no_master": false, "no_params": false}, KeepData: true, NoLeader: true},
			append(append([]string{"restore"}, std...), "--keep_data=True", "--no_leader=True", "--no_master=False", "--no_params=False")},
		{"no_params drops the standard four and the flags",
			ReplicaMethod{Name: "pgbackrest", Config: map[string]any{"command": "restore --stanza=x", "no_params": true, "keep_data": true, "no_leader": "yes", "stanza2": "y"}, NoParams: true, KeepData: true, NoLeader: true},
			[]string{"restore", "--stanza=x", "--stanza2=y"}},
		{"a section key named like a standard one is replaced by Warden's",
			ReplicaMethod{Name: "m", Config: map[string]any{"command": "m", "scope": "other", "datadir": "/x"}},
			append([]string{"m"}, std...)},
		{"without a command the name is the command",
			ReplicaMethod{Name: "restore_from_archive", Config: map[string]any{"no_leader": 1}, NoLeader: true},
			append(append([]string{"restore_from_archive"}, std...), "--no_leader=1")},
		{"no section at all",
			ReplicaMethod{Name: "clone.sh"},
			append([]string{"clone.sh"}, std...)},
		{"python's str for floats and null",
			ReplicaMethod{Name: "m", Config: map[string]any{"command": "m", "rate": 1.0, "ratio": 0.25, "none": nil}},
			append(append([]string{"m"}, std...), "--none=None", "--rate=1.0", "--ratio=0.25")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := replicaArgv(tc.m, scope, dir, dsn)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
	if _, err := replicaArgv(ReplicaMethod{Name: "m", Config: map[string]any{"command": "m 'x"}}, scope, dir, dsn); err == nil {
		t.Error("an unclosed quote must fail")
	}
	if _, err := replicaArgv(ReplicaMethod{Name: "m", Config: map[string]any{"command": 5}}, scope, dir, dsn); err == nil {
		t.Error("a command that is no string must fail")
	}
}

func TestMaskSecrets(t *testing.T) {
	argv := []string{"restore", "--scope=demo", "--connstring=host=a user=r", "--aws-secret-key=abc", "--repo1-cipher-pass=xyz", "--token=", "--threads=2"}
	shown, hidden := maskSecrets(argv)
	want := []string{"restore", "--scope=demo", "--connstring=host=a user=r", "--aws-secret-key=***", "--repo1-cipher-pass=***", "--token=", "--threads=2"}
	if !slices.Equal(shown, want) || !slices.Equal(hidden, []string{"abc", "xyz"}) {
		t.Fatalf("shown %q hidden %q", shown, hidden)
	}
	if argv[3] != "--aws-secret-key=abc" {
		t.Fatal("argv itself was changed")
	}
}

func TestRemoteMethods(t *testing.T) {
	sections := map[string]ReplicaMethod{
		"pgbackrest": {Name: "pgbackrest", Config: map[string]any{"command": "/usr/bin/restore"}, NoLeader: true},
		"basebackup": {Name: "basebackup", Config: map[string]any{"command": "not used"}},
	}
	for _, tc := range []struct {
		name  string
		names []string
		want  []ReplicaMethod
	}{
		{"unset: basebackup", nil, []ReplicaMethod{{Name: "basebackup"}}},
		{"a custom method takes its postgresql section, basebackup stays built in", []string{"pgbackrest", "basebackup"},
			[]ReplicaMethod{sections["pgbackrest"], {Name: "basebackup"}}},
		{"a method without a section runs its name (Patroni)", []string{"/usr/local/bin/clone-dr"},
			[]ReplicaMethod{{Name: "/usr/local/bin/clone-dr"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := remoteMethods(tc.names, sections)
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i].Name != tc.want[i].Name || got[i].NoLeader != tc.want[i].NoLeader || len(got[i].Config) != len(tc.want[i].Config) {
					t.Fatalf("method %d: got %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}
