package agent

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/warden-ha/warden/internal/api"
	"github.com/warden-ha/warden/internal/api/client"
	"github.com/warden-ha/warden/internal/ha"
)

var _ api.Controller = (*Agent)(nil)

// scheduler holds the one scheduled restart (POST /restart with schedule).
type scheduler struct {
	mu   sync.Mutex
	at   time.Time
	cond api.RestartConditions
}

// ScheduleRestart records a restart to run at the given time.
func (a *Agent) ScheduleRestart(at time.Time, cond api.RestartConditions) bool {
	a.sched.mu.Lock()
	defer a.sched.mu.Unlock()
	if !a.sched.at.IsZero() {
		return false
	}
	a.sched.at, a.sched.cond = at, cond
	a.log.Info("restart scheduled", "at", at.Format(time.RFC3339))
	return true
}

// CancelScheduledRestart drops the scheduled restart, reporting whether there was one.
func (a *Agent) CancelScheduledRestart() bool {
	a.sched.mu.Lock()
	defer a.sched.mu.Unlock()
	had := !a.sched.at.IsZero()
	a.sched.at = time.Time{}
	return had
}

// scheduledRestart returns the scheduled time, zero when none.
func (a *Agent) scheduledRestart() (time.Time, api.RestartConditions) {
	a.sched.mu.Lock()
	defer a.sched.mu.Unlock()
	return a.sched.at, a.sched.cond
}

// dueRestart turns a scheduled restart whose time has come into the cycle's request.
func (a *Agent) dueRestart() {
	at, cond := a.scheduledRestart()
	if at.IsZero() || a.now().Before(at) || a.pending != nil {
		return
	}
	a.CancelScheduledRestart()
	st := a.Status()
	if !restartConditionsMet(st.Role.IsPrimary(), st.ServerVersion, st.PendingRestart, cond) {
		a.log.Info("scheduled restart skipped: restart conditions are not satisfied")
		return
	}
	a.pending = &pendingRequest{req: ha.Request{Kind: ha.RequestRestart}, reply: make(chan RequestResult, 1)}
}

// Reload re-reads the configuration file and applies what changed (POST /reload, SIGHUP).
func (a *Agent) Reload(ctx context.Context) RequestResult {
	if a.opts.Reload == nil {
		return RequestResult{Code: http.StatusServiceUnavailable, Message: "reload is not available"}
	}
	if err := a.opts.Reload(ctx); err != nil {
		a.log.Error("reload failed", "err", err)
		return RequestResult{Code: http.StatusServiceUnavailable, Message: "reload failed: " + err.Error()}
	}
	a.reloaded()
	return RequestResult{Code: http.StatusAccepted, Message: "reload scheduled"}
}

// SetFailover writes the failover key (the REST API's switchover and failover).
func (a *Agent) SetFailover(ctx context.Context, value []byte, revision int64) (bool, error) {
	return a.store.SetFailover(ctx, value, revision)
}

// SetConfig writes the config key (PATCH and PUT /config).
func (a *Agent) SetConfig(ctx context.Context, value []byte, revision int64) (bool, error) {
	return a.store.SetConfig(ctx, value, revision)
}

// PeerStatus fetches another member's status.
func (a *Agent) PeerStatus(ctx context.Context, apiURL string) (client.PeerStatus, error) {
	return a.peers.Status(ctx, apiURL)
}

// LoopWait is the loop period in force.
func (a *Agent) LoopWait() time.Duration { return a.dynamic.Load().LoopWait }
