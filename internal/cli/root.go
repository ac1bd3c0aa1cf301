// Package cli holds Warden's commands: `warden <config.yml>` runs the agent as
// `patroni <config.yml>` does; `warden etcd` runs a single-member etcd in-process.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/spf13/cobra"

	"github.com/warden-ha/warden/internal/cli/ctl"
	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/config"
	"github.com/warden-ha/warden/internal/logging"
)

// ExitError carries a process exit code.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Root builds the warden command tree.
func Root(stdout, stderr io.Writer) *cobra.Command {
	var validate, version bool
	root := &cobra.Command{
		Use:   "warden [config.yml | config-dir]",
		Short: "High availability for PostgreSQL: a Patroni-compatible agent in one binary",
		Long: "warden runs the HA agent for one PostgreSQL node from a Patroni-format YAML file " +
			"(or a directory of them), exactly as `patroni <config.yml>` does.",
		Args:          cobra.MaximumNArgs(1),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if version {
				fmt.Fprintf(stdout, "warden (patroni-compatible %s)\n", cluster.Version)
				return nil
			}
			path := ""
			if len(args) == 1 {
				path = args[0]
			}
			if validate {
				return validateConfig(path, stdout, stderr)
			}
			if path == "" && os.Getenv("PATRONI_CONFIGURATION") == "" && os.Getenv("PATRONI_NAME") == "" {
				return cmd.Help()
			}
			return runAgent(cmd.Context(), path, stderr)
		},
	}
	root.Flags().BoolVar(&validate, "validate-config", false, "validate the configuration and exit")
	root.Flags().BoolVar(&version, "version", false, "print the version and exit")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(etcdCommand(stderr))
	root.AddCommand(fenceCommand(os.Stdin, stderr))
	root.AddCommand(ctl.Command(os.Stdin, stdout, stderr))
	return root
}

func validateConfig(path string, stdout, stderr io.Writer) error {
	_, warnings, err := config.Load(path, os.Environ())
	for _, w := range warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	fmt.Fprintln(stdout, "configuration is valid")
	return nil
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	return newConfiguredLogger(w, config.Log{Level: level})
}

// newConfiguredLogger follows the log section: level, type (plain or json) and dir, where
// patroni.log is written and rotated after file_size bytes, keeping file_num old files.
func newConfiguredLogger(w io.Writer, c config.Log) (*slog.Logger, error) {
	lvl, err := logging.ParseLevel(c.Level)
	if err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	if c.Dir != "" {
		if err := os.MkdirAll(c.Dir, 0o750); err != nil {
			return nil, fmt.Errorf("log.dir: %w", err)
		}
		size := c.FileSize
		if size <= 0 {
			size = 25000000
		}
		num := c.FileNum
		if num <= 0 {
			num = 4
		}
		// lumberjack rotates in whole megabytes.
		w = &lumberjack.Logger{Filename: filepath.Join(c.Dir, "patroni.log"), MaxSize: int(max(1, (size+999999)/1000000)), MaxBackups: num}
	}
	if strings.EqualFold(c.Type, "json") {
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl})), nil
	}
	return slog.New(logging.New(w, lvl)), nil
}

// Main runs the command line and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := Root(stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "warden: %v\n", err)
		var ee *ExitError
		if errors.As(err, &ee) {
			return ee.Code
		}
		return 1
	}
	return 0
}
