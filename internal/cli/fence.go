package cli

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/warden-ha/warden/internal/fence"
	"github.com/warden-ha/warden/internal/postgres"
	"github.com/warden-ha/warden/internal/procmem"
)

// fenceCommand is the agent's fencing child (see internal/fence): not for direct use.
func fenceCommand(stdin io.Reader, stderr io.Writer) *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:    "fence",
		Short:  "the agent's fencing process: stops PostgreSQL when the agent stops refreshing the leader lease",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(stderr, "INFO")
			if err != nil {
				return err
			}
			log = log.With("process", "fence")
			procmem.Release()
			// The fence guards the postmaster that ran when it was last armed: a
			// postmaster started later by a restarted agent is not its business.
			guarded := 0
			return fence.Run(stdin, fence.Actions{
				OnArm: func() {
					if pid, ok := postgres.FindRunning(dataDir); ok {
						guarded = pid
					}
				},
				Stop: func() error {
					pid, ok := postgres.FindRunning(dataDir)
					if !ok || pid != guarded {
						log.Info("the guarded postmaster is gone; nothing to stop", "guarded", guarded)
						return nil
					}
					log.Warn("stopping PostgreSQL", "pid", pid)
					return fence.StopPostgres(pid)
				},
			}, log)
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "PostgreSQL data directory")
	_ = cmd.MarkFlagRequired("data-dir")
	return cmd
}
