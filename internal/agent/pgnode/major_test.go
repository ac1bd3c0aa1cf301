package pgnode

import (
	"bytes"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

const pg15Bin = "/usr/lib/postgresql/15/bin"

// realNode is a Node on PostgreSQL 15's binaries with an empty data directory; as root
// the binaries run as the postgres user.
func realNode(t *testing.T, dyn Dynamic) (*Node, *bytes.Buffer) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(pg15Bin, "postgres")); err != nil {
		t.Skip("PostgreSQL 15 binaries not installed")
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("no postgres OS user")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	var logs bytes.Buffer
	n, err := New(Options{
		Name: "pg1", Scope: "batman", DataDir: t.TempDir(), BinDir: pg15Bin, ListenAddresses: "127.0.0.1", Port: 5432,
		Credential: cred, Dynamic: func() Dynamic { return dyn },
	}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return n, &logs
}

func TestNewRefusesBinariesOfAnotherMajor(t *testing.T) {
	n, _ := realNode(t, Dynamic{})
	if err := os.WriteFile(filepath.Join(n.opts.DataDir, "PG_VERSION"), []byte("17\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := New(n.opts, n.log)
	if err == nil || !strings.Contains(err.Error(), "holds PostgreSQL 15 but postgresql.data_dir") || !strings.Contains(err.Error(), "is PostgreSQL 17 (PG_VERSION)") {
		t.Fatalf("New = %v, want a refusal naming both majors", err)
	}
	if err := n.start(t.Context(), nil); err == nil || !strings.Contains(err.Error(), "PG_VERSION") {
		t.Fatalf("start = %v, want the same refusal", err)
	}
	if o := n.observeStopped(t.Context()); o.ServerVersion != 170000 {
		t.Errorf("server_version of a stopped 17 data directory = %d, want 170000", o.ServerVersion)
	}
}

func TestWriteConfigLeavesOutNamesTheBinariesRefuse(t *testing.T) {
	n, logs := realNode(t, Dynamic{Parameters: map[string]any{"summarize_wal": "on", "work_mem": "8MB", "wal_keep_segments": "4", "application_name": "x"}})
	if _, _, err := n.writeConfig(false, nil); err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile(filepath.Join(n.opts.DataDir, "postgresql.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"work_mem = '8MB'", "wal_keep_size = '64MB'", "application_name = 'x'"} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("postgresql.conf lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(string(conf), "summarize_wal") {
		t.Errorf("PostgreSQL 15 has no summarize_wal, yet it was written:\n%s", conf)
	}
	if !strings.Contains(logs.String(), `removing summarize_wal=\"on\": PostgreSQL 15 has no parameter summarize_wal (new in PostgreSQL 17, this is 15)`) {
		t.Errorf("no warning for summarize_wal:\n%s", logs)
	}
}
