package pgnode

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/warden-ha/warden/internal/postgres"
	"github.com/warden-ha/warden/internal/postgres/pgconf"
)

func TestBootstrapArgs(t *testing.T) {
	tests := map[string]struct {
		m    CustomBootstrap
		want []string
	}{
		"scope and datadir appended": {
			CustomBootstrap{Name: "pgbackrest", Command: `/usr/bin/pgbackrest --stanza=main --type='time' "--target=2024-01-01 10:00"`},
			[]string{"/usr/bin/pgbackrest", "--stanza=main", "--type=time", "--target=2024-01-01 10:00", "--scope=batman", "--datadir=/data/pg"},
		},
		"no_params": {
			CustomBootstrap{Name: "wal_g", Command: "wal-g backup-fetch /data/pg LATEST", NoParams: true},
			[]string{"wal-g", "backup-fetch", "/data/pg", "LATEST"},
		},
		"the section's other keys as --key=value": {
			CustomBootstrap{Name: "restore", Command: "/bin/restore", Params: map[string]any{"test-argument": "x", "delta": true, "retries": 3}},
			[]string{"/bin/restore", "--scope=batman", "--datadir=/data/pg", "--delta=True", "--retries=3", "--test-argument=x"},
		},
		"other keys with no_params": {
			CustomBootstrap{Name: "restore", Command: "/bin/restore", NoParams: true, Params: map[string]any{"test-argument": "x"}},
			[]string{"/bin/restore", "--test-argument=x"},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := bootstrapArgs(tt.m, "batman", "/data/pg")
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "  ", `restore "unterminated`} {
		if _, err := bootstrapArgs(CustomBootstrap{Name: "restore", Command: bad}, "s", "/d"); err == nil || !strings.Contains(err.Error(), "bootstrap.restore.command") {
			t.Errorf("command %q: err = %v, want one naming bootstrap.restore.command", bad, err)
		}
	}
}

func TestPostBootstrapDSN(t *testing.T) {
	got := postBootstrapDSN(postgres.ConnParams{Host: "127.0.0.1", Port: 5433, User: "the admin", Password: "s3cret", SSL: pgconf.ClientSSL{SSLMode: "require"}}, 15)
	want := `dbname=postgres user=the\ admin host=127.0.0.1 port=5433 sslmode=require`
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestPeerAccessFiles(t *testing.T) {
	hba, ident := peerAccessFiles("postgres", "admin")
	if !strings.HasSuffix(string(hba), "\nlocal all admin peer map=warden_bootstrap\n") || strings.Contains(string(hba), "host") || strings.Contains(string(hba), "trust") {
		t.Errorf("pg_hba.conf:\n%s", hba)
	}
	if !strings.HasSuffix(string(ident), "\nwarden_bootstrap postgres admin\n") {
		t.Errorf("pg_ident.conf:\n%s", ident)
	}
	hba, ident = peerAccessFiles("pg", `we"ird all`)
	if !strings.Contains(string(hba), `local all "we""ird all" peer`) || !strings.Contains(string(ident), `warden_bootstrap pg "we""ird all"`) {
		t.Errorf("quoting:\n%s%s", hba, ident)
	}
	for in, want := range map[string]string{"all": `"all"`, "sameuser": `"sameuser"`, "app_1.x-y": "app_1.x-y", "": `""`} {
		if got := hbaQuote(in); got != want {
			t.Errorf("hbaQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// postBootstrapNode is a node whose post_bootstrap is a shell script with body, written
// in a temporary directory together with the file record it may write to.
func postBootstrapNode(t *testing.T, body string, logs *bytes.Buffer) (n *Node, record string) {
	dir := t.TempDir()
	record = filepath.Join(dir, "record")
	script := filepath.Join(dir, "setup")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return &Node{
		opts: Options{Name: "pg1", Scope: "batman", DataDir: dir, PGPass: filepath.Join(dir, "pgpass"), ListenAddresses: "127.0.0.1", Port: 5433,
			Superuser: Auth{User: "postgres", Password: "zx:9-secret"}, PostBootstrap: script + " --flag 'two words'"},
		log: slog.New(slog.NewTextHandler(logs, nil)),
		dir: postgres.DataDir{Path: dir},
	}, record
}

// TestRunPostBootstrap: the script gets the DSN last, PGPASSFILE naming a 0600 file
// with the superuser's password and PGOPTIONS; its output is logged and the password
// is neither in the arguments nor in the log.
func TestRunPostBootstrap(t *testing.T) {
	var logs bytes.Buffer
	n, record := postBootstrapNode(t, `for a in "$@"; do echo "arg $a"; done > "$(dirname "$0")/record"
echo "env $PGPASSFILE|$PGOPTIONS" >> "$(dirname "$0")/record"
echo created role app
`, &logs)
	if err := n.runPostBootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(record)
	want := "arg --flag\narg two words\narg dbname=postgres user=postgres host=127.0.0.1 port=5433\n" +
		"env " + n.opts.PGPass + "|-c synchronous_commit=local\n"
	if string(b) != want {
		t.Errorf("the script saw:\n%s\nwant:\n%s", b, want)
	}
	st, err := os.Stat(n.opts.PGPass)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("pgpass: %v %v", st, err)
	}
	if b, _ := os.ReadFile(n.opts.PGPass); string(b) != "127.0.0.1:5433:*:postgres:zx\\:9-secret\n" {
		t.Errorf("pgpass = %q", b)
	}
	if !strings.Contains(logs.String(), "running post_bootstrap") || !strings.Contains(logs.String(), "created role app") {
		t.Errorf("log:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "secret") {
		t.Errorf("the password leaked:\n%s", logs.String())
	}
}

func TestRunPostBootstrapFailure(t *testing.T) {
	var logs bytes.Buffer
	n, _ := postBootstrapNode(t, "exit 3\n", &logs)
	err := n.runPostBootstrap(context.Background())
	if err == nil || !strings.Contains(err.Error(), "code 3") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(logs.String(), "post_init script "+n.opts.PostBootstrap+" returned non-zero code 3") {
		t.Errorf("log:\n%s", logs.String())
	}
	n, _ = postBootstrapNode(t, "", &logs)
	n.opts.PostBootstrap = filepath.Join(t.TempDir(), "missing")
	if err := n.runPostBootstrap(context.Background()); err == nil || !strings.Contains(logs.String(), "post_init script "+n.opts.PostBootstrap+" failed") {
		t.Errorf("err = %v, log:\n%s", err, logs.String())
	}
}
