package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/warden-ha/warden/internal/postgres/pgconf"
)

// Parameters answers which parameter names the postgres binary in a bin_dir accepts:
// its `--describe-config` catalogue, and for a name that output leaves out (the
// developer options) the binary itself, asked once per name with `postgres -C`.
type Parameters struct {
	*pgconf.Catalogue
	tools Tools

	mu     sync.Mutex
	probed map[string]bool
}

// binaryKey identifies one build of postgres: its path, size and modification time.
type binaryKey struct {
	path  string
	size  int64
	mtime int64
}

// catalogues caches describe-config per binary for the process's life.
var catalogues sync.Map // binaryKey -> *pgconf.Catalogue

// Parameters reads the parameters of the binary in BinDir (cached per binary).
func (t Tools) Parameters(ctx context.Context) (*Parameters, error) {
	path := t.bin("postgres")
	if t.BinDir == "" {
		var err error
		if path, err = exec.LookPath("postgres"); err != nil {
			return nil, err
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	key := binaryKey{path, st.Size(), st.ModTime().UnixNano()}
	cat, ok := catalogues.Load(key)
	if !ok {
		major, err := t.Version(ctx)
		if err != nil {
			return nil, err
		}
		out, err := t.Runner.Run(ctx, Command{Path: path, Args: []string{"--describe-config"}, Timeout: t.timeout()})
		if err != nil {
			return nil, fmt.Errorf("postgres --describe-config: %w", err)
		}
		c, err := pgconf.ParseDescribeConfig(string(out), major)
		if err != nil {
			return nil, err
		}
		cat, _ = catalogues.LoadOrStore(key, c)
	}
	return &Parameters{Catalogue: cat.(*pgconf.Catalogue), tools: t, probed: map[string]bool{}}, nil
}

// Accepts reports whether a configuration file may set name. An error means the binary
// could not be asked (run as root without an owner, say): the name is then unchecked.
func (p *Parameters) Accepts(ctx context.Context, name string) (bool, error) {
	if p.Known(name) {
		return true, nil
	}
	lower := strings.ToLower(name)
	p.mu.Lock()
	known, ok := p.probed[lower]
	p.mu.Unlock()
	if ok {
		return known, nil
	}
	known, err := p.probe(ctx, lower)
	if err != nil {
		return false, err
	}
	p.mu.Lock()
	p.probed[lower] = known
	p.mu.Unlock()
	return known, nil
}

// probe runs `postgres -C name` against an empty configuration in a scratch directory:
// it prints the value of a parameter the binary has and fails on any other name.
func (p *Parameters) probe(ctx context.Context, name string) (bool, error) {
	if strings.ContainsAny(name, " \t\n=#'\"\\") || strings.HasPrefix(name, "-") {
		return false, nil
	}
	dir, err := os.MkdirTemp("", "warden-guc-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	for _, f := range []string{"postgresql.conf", "postgresql.auto.conf"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
			return false, err
		}
		if err := chown(filepath.Join(dir, f), p.tools.Owner); err != nil {
			return false, err
		}
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return false, err
	}
	if err := chown(dir, p.tools.Owner); err != nil {
		return false, err
	}
	// -C shows internal (read-only) parameters too: setting the value it printed tells
	// them apart ("cannot be changed").
	args := []string{"-D", dir, "-C", name}
	out, err := p.tools.Runner.Run(ctx, Command{Path: p.tools.bin("postgres"), Args: args, Timeout: p.tools.timeout()})
	if err == nil {
		set := "-c" + name + "=" + strings.TrimRight(string(out), "\n")
		_, err = p.tools.Runner.Run(ctx, Command{Path: p.tools.bin("postgres"), Args: append([]string{set}, args...), Timeout: p.tools.timeout()})
	}
	var ee *ExecError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ee) && (strings.Contains(ee.Stderr, "unrecognized configuration parameter") || strings.Contains(ee.Stderr, "cannot be changed")):
		return false, nil
	}
	return false, fmt.Errorf("postgres -C %s: %w", name, err)
}
