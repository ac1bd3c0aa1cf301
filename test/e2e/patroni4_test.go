//go:build e2e

package e2e

import (
	"cmp"
	"os"
	"path/filepath"
	"testing"
)

// Patroni 4.1 comes from scripts/install-patroni4.sh; `make e2e` installs it and names its
// folder in WARDEN_PATRONI4_BIN, so there a missing Patroni 4 fails the test instead of
// skipping it.
var (
	patroni4Dir = cmp.Or(os.Getenv("WARDEN_PATRONI4_BIN"), "/var/cache/warden/patroni4/bin")
	patroni4    = filepath.Join(patroni4Dir, "patroni")
	patronictl4 = filepath.Join(patroni4Dir, "patronictl")
)

// needPatroni4 skips (or, under make e2e, fails) a test that needs Patroni 4.1.
func needPatroni4(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(patroni4); err != nil {
		if os.Getenv("WARDEN_PATRONI4_BIN") != "" {
			t.Fatalf("Patroni 4.1 missing: %v", err)
		}
		t.Skipf("Patroni 4.1 is not installed (scripts/install-patroni4.sh): %v", err)
	}
}
