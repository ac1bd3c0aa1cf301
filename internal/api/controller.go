package api

import (
	"context"
	"time"

	"github.com/warden-ha/warden/internal/api/client"
)

// Result is the answer to an operator request.
type Result struct {
	Code    int
	Message string
}

// RestartConditions are POST /restart's optional filters.
type RestartConditions struct {
	// Role: "primary" or "replica" ("master" accepted); empty means any.
	Role string
	// PostgresVersion: restart only when the running server is older than this.
	PostgresVersion string
	// RestartPending: restart only when a restart is pending.
	RestartPending bool
}

// Controller is what the mutating endpoints need from the agent and its DCS.
type Controller interface {
	Restart(ctx context.Context, cond RestartConditions) Result
	Reinitialize(ctx context.Context, force bool) Result
	Reload(ctx context.Context) Result
	// ScheduleRestart records a restart to run at the given time; false when one is
	// already scheduled.
	ScheduleRestart(at time.Time, cond RestartConditions) bool
	// CancelScheduledRestart reports whether there was one.
	CancelScheduledRestart() bool
	SetFailover(ctx context.Context, value []byte, revision int64) (bool, error)
	SetConfig(ctx context.Context, value []byte, revision int64) (bool, error)
	PeerStatus(ctx context.Context, apiURL string) (client.PeerStatus, error)
	LoopWait() time.Duration
	// AcceptFailsafe answers a POST /failsafe from the named primary.
	AcceptFailsafe(ctx context.Context, sender string) Result
}
