package cli

import (
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/warden-ha/warden/internal/etcdembed"
)

// etcdCommand runs a single-member etcd server in-process: the single-machine default and
// what `make demo` uses. It is real etcd (go.etcd.io/etcd/server/v3/embed), not a fake.
func etcdCommand(stderr io.Writer) *cobra.Command {
	var cfg etcdembed.Config
	var level string
	cmd := &cobra.Command{
		Use:   "etcd",
		Short: "run a single-member etcd server in-process (for one machine, demos and tests)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(stderr, level)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			srv, err := etcdembed.Start(ctx, cfg, log)
			if err != nil {
				return fmt.Errorf("start embedded etcd: %w", err)
			}
			log.Info("embedded etcd is serving", "endpoints", fmt.Sprint(srv.Endpoints()), "data_dir", cfg.DataDir)
			select {
			case <-ctx.Done():
			case err := <-srv.Err():
				_ = srv.Close()
				return fmt.Errorf("embedded etcd stopped: %w", err)
			}
			return srv.Close()
		},
	}
	cmd.Flags().StringVar(&cfg.Name, "name", "warden-etcd", "member name")
	cmd.Flags().StringVar(&cfg.DataDir, "data-dir", "", "data directory (a temporary one when empty)")
	cmd.Flags().StringVar(&cfg.ClientURL, "listen-client-urls", "http://127.0.0.1:2379", "client URL")
	cmd.Flags().StringVar(&cfg.PeerURL, "listen-peer-urls", "http://127.0.0.1:2380", "peer URL")
	cmd.Flags().StringVar(&level, "log-level", "INFO", "log level")
	return cmd
}
