package postgres

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/warden-ha/warden/internal/postgres/pgconf"
)

// Tools runs PostgreSQL's command-line programs through a Runner.
type Tools struct {
	Runner Runner
	BinDir string // empty: PATH
	// PassFile is passed as PGPASSFILE to every tool that connects.
	PassFile string
	// Owner, when set, owns the temporary files handed to tools (tests run
	// as root and the tools as the postgres user).
	Owner *syscall.Credential
	// Timeout bounds the short tools (pg_controldata, promote, version);
	// default one minute. Long ones (basebackup, rewind) use the context.
	Timeout time.Duration
}

func (t Tools) bin(name string) string {
	if t.BinDir == "" {
		return name
	}
	return filepath.Join(t.BinDir, name)
}

func (t Tools) timeout() time.Duration {
	if t.Timeout > 0 {
		return t.Timeout
	}
	return time.Minute
}

func (t Tools) connEnv() []string {
	env := []string{"LC_ALL=C"}
	if t.PassFile != "" {
		env = append(env, "PGPASSFILE="+t.PassFile)
	}
	return env
}

// InitDB runs initdb. The superuser password goes through a 0600 pwfile
// that is removed afterwards, never through the command line.
func (t Tools) InitDB(ctx context.Context, dataDir, superuser, password string, opts []string) error {
	args := []string{"--pgdata=" + dataDir, "--username=" + superuser}
	if password != "" {
		pw, err := os.CreateTemp("", "warden-pwfile-*")
		if err != nil {
			return fmt.Errorf("initdb: create pwfile: %w", err)
		}
		defer os.Remove(pw.Name())
		if _, err := pw.WriteString(password + "\n"); err != nil {
			pw.Close()
			return fmt.Errorf("initdb: write pwfile: %w", err)
		}
		if err := pw.Close(); err != nil {
			return fmt.Errorf("initdb: write pwfile: %w", err)
		}
		if err := chown(pw.Name(), t.Owner); err != nil {
			return fmt.Errorf("initdb: %w", err)
		}
		args = append(args, "--pwfile="+pw.Name())
	}
	args = append(args, opts...)
	// The agent's locale, as Patroni passes it: it becomes the cluster's default collation,
	// ctype and lc_* settings.
	if _, err := t.Runner.Run(ctx, Command{Path: t.bin("initdb"), Args: args}); err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	return nil
}

// BaseBackup clones a running server into dataDir with pg_basebackup. The
// directory is wiped first (pg_basebackup wants it empty) and removed again
// on failure so a half copy is never started. dsn carries no password: it
// comes from the pgpass file; hide are texts of dsn (sslpassword) never shown.
func (t Tools) BaseBackup(ctx context.Context, dataDir, dsn string, hide, extraOpts []string) error {
	if err := os.RemoveAll(dataDir); err != nil {
		return fmt.Errorf("basebackup: wipe data directory: %w", err)
	}
	args := append([]string{"--pgdata=" + dataDir, "-X", "stream", "--dbname=" + dsn}, extraOpts...)
	if _, err := t.Runner.Run(ctx, Command{Path: t.bin("pg_basebackup"), Args: args, Env: t.connEnv(), Hide: hide}); err != nil {
		if rmErr := os.RemoveAll(dataDir); rmErr != nil {
			return fmt.Errorf("basebackup: %w (and removing the partial copy: %w)", err, rmErr)
		}
		return fmt.Errorf("basebackup: %w", err)
	}
	return nil
}

// Rewind runs pg_rewind against a source primary; the data directory must be
// cleanly shut down (see CrashRecovery). hide are texts of sourceDSN (sslpassword)
// never shown.
func (t Tools) Rewind(ctx context.Context, dataDir, sourceDSN string, hide, extraOpts []string) error {
	args := append([]string{"-D", dataDir, "--source-server=" + sourceDSN}, extraOpts...)
	// The copy can outlast any statement_timeout configured on the source.
	env := append(t.connEnv(), "PGOPTIONS=-c statement_timeout=0")
	if _, err := t.Runner.Run(ctx, Command{Path: t.bin("pg_rewind"), Args: args, Env: env, Hide: hide}); err != nil {
		return fmt.Errorf("pg_rewind: %w", err)
	}
	return nil
}

// ControlData runs pg_controldata and parses its output.
func (t Tools) ControlData(ctx context.Context, dataDir string) (pgconf.ControlData, error) {
	out, err := t.Runner.Run(ctx, Command{Path: t.bin("pg_controldata"), Args: []string{"-D", dataDir},
		Env: []string{"LC_ALL=C"}, Timeout: t.timeout()})
	if err != nil {
		return pgconf.ControlData{}, fmt.Errorf("pg_controldata: %w", err)
	}
	cd, err := pgconf.ParseControlData(out)
	if err != nil {
		return pgconf.ControlData{}, fmt.Errorf("pg_controldata: %w", err)
	}
	return cd, nil
}

// Promote asks the running standby to promote and returns once it is out of
// recovery: pg_ctl promote waits (-w) for pg_control to show "in production".
func (t Tools) Promote(ctx context.Context, dataDir string) error {
	secs := strconv.Itoa(int(t.timeout() / time.Second))
	_, err := t.Runner.Run(ctx, Command{Path: t.bin("pg_ctl"), Args: []string{"promote", "-w", "-t", secs, "-D", dataDir},
		Env: []string{"LC_ALL=C"}, Timeout: t.timeout() + 5*time.Second})
	if err != nil {
		return fmt.Errorf("pg_ctl promote: %w", err)
	}
	return nil
}

// CrashRecovery replays WAL in single-user mode so a cluster that was not
// shut down cleanly ends in a clean state pg_rewind accepts. Archiving is
// forced on with a failing command so no segment is recycled before it could
// be archived by whoever archives it normally.
func (t Tools) CrashRecovery(ctx context.Context, dataDir, confFile string, opts []string) error {
	args := []string{"--single", "-D", dataDir}
	if confFile != "" {
		args = append(args, "--config-file="+confFile)
	}
	args = append(args, opts...)
	args = append(args, "-c", "archive_mode=on", "-c", "archive_command=false", "template1")
	_, err := t.Runner.Run(ctx, Command{Path: t.bin("postgres"), Args: args, Env: []string{"LC_ALL=C"}})
	if err != nil {
		return fmt.Errorf("single-user crash recovery: %w", err)
	}
	return nil
}

var versionRE = regexp.MustCompile(`\(PostgreSQL\) (\d+)(?:\.(\d+))?`)

// Version returns the major version of the postgres binary (15 for 15.4;
// 9.6 is reported as 9).
func (t Tools) Version(ctx context.Context) (int, error) {
	out, err := t.Runner.Run(ctx, Command{Path: t.bin("postgres"), Args: []string{"--version"}, Timeout: t.timeout()})
	if err != nil {
		return 0, fmt.Errorf("postgres --version: %w", err)
	}
	return ParseVersion(string(out))
}

// ParseVersion extracts the major version from "postgres (PostgreSQL) 15.4 ...".
func ParseVersion(out string) (int, error) {
	m := versionRE.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("unrecognised postgres version output %q", out)
	}
	return strconv.Atoi(m[1])
}

func chown(path string, owner *syscall.Credential) error {
	if owner == nil {
		return nil
	}
	if err := os.Chown(path, int(owner.Uid), int(owner.Gid)); err != nil {
		return fmt.Errorf("chown %s: %w", path, err)
	}
	return nil
}
