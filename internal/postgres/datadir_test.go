package postgres

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/warden-ha/warden/internal/postgres/pgconf"
)

func modeOf(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

// Patroni 3.1: in a data directory with group access (0750, initdb -g) the files Warden
// writes are group-readable like PostgreSQL's own; the password file never is.
func TestFileModesFollowDataDirectory(t *testing.T) {
	for _, tc := range []struct {
		dirMode, fileMode os.FileMode
	}{{0o700, 0o600}, {0o750, 0o640}} {
		d := DataDir{Path: filepath.Join(t.TempDir(), "data")}
		if err := os.Mkdir(d.Path, tc.dirMode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d.Path, tc.dirMode); err != nil {
			t.Fatal(err)
		}
		if err := d.EnsureMode(); err != nil {
			t.Fatal(err)
		}
		if got := modeOf(t, d.Path); got != tc.dirMode {
			t.Errorf("EnsureMode changed %o to %o", tc.dirMode, got)
		}
		if _, err := d.WriteConfig(Config{Conf: pgconf.ConfParams{Major: 15}, HBA: []string{"local all all peer"}, Standby: true}); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"postgresql.conf", "pg_hba.conf", "standby.signal"} {
			if got := modeOf(t, filepath.Join(d.Path, f)); got != tc.fileMode {
				t.Errorf("data directory %o: %s is %o, want %o", tc.dirMode, f, got, tc.fileMode)
			}
		}
		pgpass := filepath.Join(d.Path, "pgpass")
		if _, err := d.WritePgpass(pgpass, []pgconf.PgpassEntry{{Host: "h", User: "u", Password: "p"}}); err != nil {
			t.Fatal(err)
		}
		if got := modeOf(t, pgpass); got != 0o600 {
			t.Errorf("data directory %o: pgpass is %o, want 0600", tc.dirMode, got)
		}
	}
	other := DataDir{Path: filepath.Join(t.TempDir(), "gone")}
	if err := other.EnsureMode(); err != nil || modeOf(t, other.Path) != 0o700 {
		t.Errorf("a new data directory is %o (%v), want 0700", modeOf(t, other.Path), err)
	}
}
