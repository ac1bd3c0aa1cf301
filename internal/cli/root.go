// Package cli holds Warden's commands: `warden <config.yml>` runs the agent as
// `patroni <config.yml>` does; `warden etcd` runs a single-member etcd in-process.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/warden-ha/warden/internal/cli/ctl"
	"github.com/warden-ha/warden/internal/cluster"
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
	var validate, version, generate, generateSample bool
	var vopts validateOptions
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
				return validateConfig(path, vopts, stdout, stderr)
			}
			if generate || generateSample {
				return generateConfig(path, stdout)
			}
			if path == "" && os.Getenv("PATRONI_CONFIGURATION") == "" && os.Getenv("PATRONI_NAME") == "" {
				return cmd.Help()
			}
			return runAgent(cmd.Context(), path, stderr)
		},
	}
	root.Flags().BoolVar(&validate, "validate-config", false, "validate the configuration and exit")
	vopts.flags(root)
	root.Flags().BoolVar(&version, "version", false, "print the version and exit")
	// Patroni 3.2's spellings; the argument is then the output file.
	root.Flags().BoolVar(&generateSample, "generate-sample-config", false, "write a documented sample configuration to the file argument or stdout")
	root.Flags().BoolVar(&generate, "generate-config", false, "the same as --generate-sample-config")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(validateCommand(stdout, stderr))
	root.AddCommand(generateCommand(stdout))
	root.AddCommand(etcdCommand(stderr))
	root.AddCommand(fenceCommand(os.Stdin, stderr))
	root.AddCommand(ctl.Command(os.Stdin, stdout, stderr))
	return root
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
