package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/warden-ha/warden/internal/api"
	"github.com/warden-ha/warden/internal/api/client"
	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/ha"
)

// failsafeState is the agent's part of failsafe_mode. The REST API records acceptances
// while the loop decides, so both go through mu. The loop copies the last acceptance
// when it reads the DCS, and decides on that copy; before it tries to take the leader
// key it checks, under mu, that no acceptance came in since, and marks itself a leader,
// which makes every later request refused. So a member never takes the key while an
// acceptance it gave is less than ttl old, whichever of the two happens first.
type failsafeState struct {
	mu           sync.Mutex
	dcsReachable bool
	acceptedAt   time.Time
	acceptedFrom string
	// leader: this agent is taking or holds the leader key.
	leader bool

	// Loop-owned: the /failsafe key as last read, the confirmations this primary holds,
	// the acceptance as copied at the last DCS read, and the agent's start.
	members   map[string]string
	confirmed map[string]time.Time
	seenAt    time.Time
	seenFrom  string
	started   time.Time
}

// noteDCS records whether this cycle's DCS read succeeded and snapshots the last
// acceptance for the core.
func (f *failsafeState) noteDCS(ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dcsReachable = ok
	f.seenAt, f.seenFrom = f.acceptedAt, f.acceptedFrom
}

func (f *failsafeState) input() ha.Failsafe {
	var names []string
	if f.members != nil {
		names = slices.Sorted(maps.Keys(f.members))
	}
	return ha.Failsafe{Members: names, Confirmed: f.confirmed, AcceptedAt: f.seenAt, AcceptedFrom: f.seenFrom, AgentStart: f.started}
}

// failsafeProbeTimeout bounds the DCS read a member makes before confirming a primary:
// the primary gives up on the answer after client.DefaultTimeout.
const failsafeProbeTimeout = time.Second

// AcceptFailsafe answers a primary's POST /failsafe (api.Controller). When the loop's
// last read succeeded, the member reads the DCS once more: the primary asks as soon as
// its own read failed, usually before the members' loops have noticed.
func (a *Agent) AcceptFailsafe(ctx context.Context, sender string) api.Result {
	s := a.settings()
	st := a.status.Load()
	runningPrimary := st.Role.IsPrimary() && st.State == "running"
	f := &a.failsafe
	f.mu.Lock()
	reachable := f.dcsReachable
	f.mu.Unlock()
	if s.FailsafeMode && reachable && !runningPrimary {
		pctx, cancel := context.WithTimeout(ctx, min(failsafeProbeTimeout, s.RetryTimeout))
		_, err := a.store.Load(pctx)
		cancel()
		reachable = err == nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ans := ha.AnswerFailsafe(s, runningPrimary || f.leader, reachable)
	if ans.Accept {
		now := a.now()
		if f.acceptedFrom != sender || f.acceptedAt.IsZero() || !now.Before(f.acceptedAt.Add(s.TTL)) {
			a.log.Info(fmt.Sprintf("accepted POST /failsafe from %s: the DCS is not accessible; not racing for the leader key until ttl after the last one", sender))
		}
		f.acceptedAt, f.acceptedFrom = now, sender
	}
	return api.Result{Code: ans.Code, Message: ans.Message}
}

// errAcceptedMeanwhile stops a leader race decided before this member confirmed a
// primary over POST /failsafe.
var errAcceptedMeanwhile = errors.New("accepted POST /failsafe since the cluster was read: not taking the leader key")

// claimLeader marks this agent as taking the leader key, unless it accepted a POST
// /failsafe after the read its decision was based on.
func (f *failsafeState) claimLeader() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.acceptedAt.Equal(f.seenAt) {
		return errAcceptedMeanwhile
	}
	f.leader = true
	return nil
}

func (f *failsafeState) setLeader(v bool) {
	f.mu.Lock()
	f.leader = v
	f.mu.Unlock()
}

// trusted is when this node's leadership was last vouched for (ha.Trusted).
func (a *Agent) trusted(s ha.Settings) time.Time {
	return ha.Trusted(s, a.lastRefresh, a.failsafe.input(), a.now())
}

// failsafeRound is Patroni's check_failsafe_topology: a primary that could not read the
// DCS asks every other member listed in /failsafe to confirm it. An accepted request
// counts from the moment it was sent.
func (a *Agent) failsafeRound(ctx context.Context, obs Observation, s ha.Settings) {
	f := &a.failsafe
	if !s.FailsafeMode || s.Pause || a.lastRefresh.IsZero() || !obs.Ready || obs.InRecovery {
		return
	}
	if _, listed := f.members[s.Name]; !listed {
		return
	}
	body, err := json.Marshal(map[string]string{"name": s.Name, "conn_url": a.opts.ConnURL, "api_url": a.opts.APIURL})
	if err != nil {
		a.log.Error("encode POST /failsafe body", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, client.DefaultTimeout)
	defer cancel()
	sent := a.now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for name, url := range f.members {
		if name == s.Name {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, text, err := a.peers.PostFailsafe(ctx, url, body)
			if err != nil {
				a.log.Warn(fmt.Sprintf("Request failed to %s: POST %s (%s)", name, url, err))
				return
			}
			a.log.Info(fmt.Sprintf("Got response from %s %s: %s", name, url, text))
			if code == 200 && text == "Accepted" {
				mu.Lock()
				if f.confirmed == nil {
					f.confirmed = map[string]time.Time{}
				}
				f.confirmed[name] = sent
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if a.trusted(s).After(a.lastRefresh) {
		// Every member vouched for this primary: keep the watchdog fed as a lease
		// refresh would (Patroni's keepalive in failsafe mode).
		a.feedWatchdog(s)
	}
}

// writeFailsafe keeps the /failsafe key (every member's api_url, this node's included)
// after a successful leader refresh, writing only when it changed, as Patroni does.
func (a *Agent) writeFailsafe(ctx context.Context, cl *cluster.Cluster, s ha.Settings) {
	if !s.FailsafeMode || cl == nil {
		return
	}
	want := map[string]string{s.Name: a.opts.APIURL}
	for _, m := range cl.Members {
		if m.APIURL != "" {
			want[m.Name] = m.APIURL
		}
	}
	if maps.Equal(want, cl.Failsafe) {
		return
	}
	value, err := json.Marshal(want)
	if err != nil {
		a.log.Error("encode the failsafe key", "err", err)
		return
	}
	dctx, cancel := a.dcsCtx(ctx, s)
	defer cancel()
	if err := a.store.SetFailsafe(dctx, value); err != nil {
		a.log.Warn("could not write the failsafe key", "err", err)
		return
	}
	a.failsafe.members = want
}

// failsafeActive: this primary runs on its members' confirmations, or this member
// accepted a primary's POST /failsafe within ttl.
func (a *Agent) failsafeActive(s ha.Settings) bool {
	if !s.FailsafeMode {
		return false
	}
	now := a.now()
	extends := a.trusted(s).After(a.lastRefresh)
	f := &a.failsafe
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.dcsReachable && extends {
		return true
	}
	return !f.acceptedAt.IsZero() && now.Before(f.acceptedAt.Add(s.TTL))
}
