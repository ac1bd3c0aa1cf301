package agent

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/warden-ha/warden/internal/api"
	"github.com/warden-ha/warden/internal/ha"
)

// RequestResult is the answer to an operator request, in REST terms.
type RequestResult = api.Result

type pendingRequest struct {
	req   ha.Request
	reply chan RequestResult
}

// RestartConditions are POST /restart's optional filters.
type RestartConditions = api.RestartConditions

// Restart restarts PostgreSQL on this node and waits until it is done.
func (a *Agent) Restart(ctx context.Context, cond RestartConditions) RequestResult {
	st := a.Status()
	if !restartConditionsMet(st.Role.IsPrimary(), st.ServerVersion, st.PendingRestart, cond) {
		return RequestResult{Code: http.StatusServiceUnavailable, Message: "restart conditions are not satisfied"}
	}
	return a.submit(ctx, ha.Request{Kind: ha.RequestRestart})
}

// Reinitialize throws the data directory away and clones it again from the leader.
func (a *Agent) Reinitialize(ctx context.Context, force bool) RequestResult {
	return a.submit(ctx, ha.Request{Kind: ha.RequestReinitialize, Force: force})
}

func (a *Agent) submit(ctx context.Context, req ha.Request) RequestResult {
	pr := pendingRequest{req: req, reply: make(chan RequestResult, 1)}
	select {
	case a.requests <- pr:
	case <-ctx.Done():
		return RequestResult{Code: http.StatusServiceUnavailable, Message: "the agent did not take the request in time"}
	}
	select {
	case r := <-pr.reply:
		return r
	case <-ctx.Done():
		return RequestResult{Code: http.StatusServiceUnavailable, Message: fmt.Sprintf("%s status unknown: still in progress", req.Kind)}
	}
}

// answerRequest replies to the pending request after the decision: refused, accepted
// (reinitialize answers at once), or carried by a long action that answers when done.
func (a *Agent) answerRequest(out ha.Output, failed int, err error) {
	pr := a.pending
	if pr == nil {
		return
	}
	a.pending = nil
	switch {
	case out.Refused != "":
		pr.reply <- RequestResult{Code: http.StatusServiceUnavailable, Message: out.Refused}
	case err != nil && !planReached(out.Plan, failed, pr.req.Kind):
		pr.reply <- RequestResult{Code: http.StatusServiceUnavailable, Message: fmt.Sprintf("%s failed: %v", pr.req.Kind, err)}
	case pr.req.Kind == ha.RequestReinitialize:
		pr.reply <- RequestResult{Code: http.StatusOK, Message: "reinitialize started"}
	default:
		a.awaiting = pr.reply
	}
}

func planReached(p ha.Plan, failed int, k ha.RequestKind) bool {
	for i, act := range p {
		if (act.Kind == ha.KindRestart && k == ha.RequestRestart) || (act.Kind == ha.KindReinitialize && k == ha.RequestReinitialize) {
			return i < failed
		}
	}
	return false
}

// restartConditionsMet applies POST /restart's filters.
func restartConditionsMet(primary bool, serverVersion int, pending bool, c RestartConditions) bool {
	switch strings.ToLower(c.Role) {
	case "primary", "master":
		if !primary {
			return false
		}
	case "replica":
		if primary {
			return false
		}
	}
	if c.RestartPending && !pending {
		return false
	}
	if c.PostgresVersion != "" {
		want, ok := versionNumber(c.PostgresVersion)
		if ok && serverVersion >= want {
			return false
		}
	}
	return true
}

// versionNumber turns "15.2" (or "9.6.24") into server_version_num form (150002, 90624).
func versionNumber(v string) (int, bool) {
	parts := strings.Split(strings.TrimSpace(v), ".")
	nums := make([]int, 3)
	for i := 0; i < len(parts) && i < 3; i++ {
		n, err := strconv.Atoi(parts[i])
		if err != nil || n < 0 {
			return 0, false
		}
		nums[i] = n
	}
	if nums[0] >= 10 {
		return nums[0]*10000 + nums[1], true
	}
	return nums[0]*10000 + nums[1]*100 + nums[2], true
}
