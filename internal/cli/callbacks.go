package cli

import (
	"log/slog"
	"os"

	"github.com/warden-ha/warden/internal/agent"
	"github.com/warden-ha/warden/internal/callbacks"
	"github.com/warden-ha/warden/internal/config"
)

// callbackRunner builds the runner for postgresql.callbacks; nil when none is configured
// (a nil *Runner must not reach the agent as a non-nil interface).
func callbackRunner(cfg *config.Config, log *slog.Logger) (agent.Callbacks, error) {
	if len(cfg.PostgreSQL.Callbacks) == 0 {
		return nil, nil
	}
	r, err := callbacks.New(callbacks.Options{Scripts: cfg.PostgreSQL.Callbacks, Scope: cfg.Scope, Env: os.Environ()}, log)
	if err != nil {
		return nil, err
	}
	return r, nil
}
