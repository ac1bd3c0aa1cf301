package postgres

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestParametersFromBinary asks the real binaries (15, and the one in WARDEN_PG_BIN when
// set) which names they accept, including the developer options --describe-config
// leaves out, which only `postgres -C` answers.
func TestParametersFromBinary(t *testing.T) {
	e := newEnv(t)
	bins := []string{pgBin}
	if b := os.Getenv("WARDEN_PG_BIN"); b != "" {
		bins = append(bins, b)
	}
	for _, bin := range bins {
		if _, err := os.Stat(filepath.Join(bin, "postgres")); err != nil {
			t.Fatalf("%s: %v", bin, err)
		}
		tools := e.tools
		tools.BinDir = bin
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		gucs, err := tools.Parameters(ctx)
		if err != nil {
			t.Fatal(err)
		}
		again, err := tools.Parameters(ctx)
		if err != nil || again.Catalogue != gucs.Catalogue {
			t.Errorf("%s: describe-config is not cached per binary (%v)", bin, err)
		}
		for name, want := range map[string]bool{
			"shared_buffers": true, "application_name": true, "zero_damaged_pages": true,
			"summarize_wal": gucs.Major >= 17, "io_method": gucs.Major >= 18,
			"max_relication_slots": false, "server_version_num": false, "x'; --": false,
		} {
			got, err := gucs.Accepts(ctx, name)
			if err != nil || got != want {
				t.Errorf("PostgreSQL %d Accepts(%q) = %v, %v; want %v", gucs.Major, name, got, err, want)
			}
		}
		cancel()
	}
}
