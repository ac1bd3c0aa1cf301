package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/config"
)

func TestValidateConfig(t *testing.T) {
	var out, errOut bytes.Buffer
	good := filepath.Join("..", "config", "testdata", "seed", "blog-patroni01.yml")
	if code := Main(context.Background(), []string{"--validate-config", good}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d for a seed config: %s", code, errOut.String())
	}
	// Its bin_dir (PostgreSQL 12) is not installed: names are kept and not checked.
	if !strings.Contains(errOut.String(), "postgresql.bin_dir: parameter names not checked") {
		t.Errorf("no warning that parameter names could not be checked:\n%s", errOut.String())
	}
	// Against PostgreSQL 15's binary the misspelled name is reported with the nearest one.
	yml, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	pg15 := filepath.Join(t.TempDir(), "pg15.yml")
	if err := os.WriteFile(pg15, bytes.ReplaceAll(yml, []byte("/usr/lib/postgresql/12/bin"), []byte("/usr/lib/postgresql/15/bin")), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	if code := Main(context.Background(), []string{"--validate-config", pg15}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(errOut.String(), "PostgreSQL 15 has no parameter wal_keep_segment (did you mean wal_keep_size?)") {
		t.Errorf("no warning naming the misspelled parameter:\n%s", errOut.String())
	}
	bad := filepath.Join(t.TempDir(), "bad.yml")
	if err := os.WriteFile(bad, []byte("scope: x\nname: [oops\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	if code := Main(context.Background(), []string{"--validate-config", bad}, &out, &errOut); code != 1 {
		t.Fatalf("exit %d for broken YAML", code)
	}
	if !strings.Contains(errOut.String(), "line") {
		t.Errorf("error does not name the line: %s", errOut.String())
	}
}

func TestRefusesRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	var out, errOut bytes.Buffer
	if code := Main(context.Background(), []string{"some.yml"}, &out, &errOut); code != 1 {
		t.Fatalf("exit %d as root", code)
	}
	if !strings.Contains(errOut.String(), "postgres user") {
		t.Errorf("root refusal does not say how to run: %s", errOut.String())
	}
}

func TestPrefix(t *testing.T) {
	for _, tc := range []struct{ ns, scope, want string }{
		{"/service/", "batman", "/service/batman/"},
		{"/db/", "postgres", "/db/postgres/"},
		{"service", "x", "/service/x/"},
	} {
		if got := prefix(tc.ns, tc.scope); got != tc.want {
			t.Errorf("prefix(%q, %q) = %q, want %q", tc.ns, tc.scope, got, tc.want)
		}
	}
}

// restapi.server_tokens (Patroni 4.1) becomes the Server header; http_extra_headers can
// still override it, and Original sends none (Warden has no Python versions to show).
func TestServerTokensHeader(t *testing.T) {
	for tokens, want := range map[string]string{"": "", "original": "", "productonly": "Patroni", "minimal": "Patroni/" + cluster.Version} {
		cfg := &config.Config{RestAPI: config.RestAPI{ServerTokens: tokens}}
		h := extraHeaders(cfg, false)
		if got, set := h["Server"]; got != want || set != (want != "") {
			t.Errorf("server_tokens %q: Server %q (set %v), want %q", tokens, got, set, want)
		}
	}
	cfg := &config.Config{RestAPI: config.RestAPI{ServerTokens: "minimal", HTTPExtraHeaders: map[string]string{"Server": "web"}}}
	if got := extraHeaders(cfg, false)["Server"]; got != "web" {
		t.Errorf("http_extra_headers Server overridden: %q", got)
	}
}
