package ha

import (
	"fmt"
	"strings"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
)

// Decide is the whole HA policy: one call per loop cycle.
func Decide(in Input) Output {
	out := decide(in)
	if in.Request != nil && out.Refused == "" && !out.Plan.Has(requestAction(in.Request.Kind)) {
		out.Refused = fmt.Sprintf("%s is not possible now: %s", in.Request.Kind, out.Reason)
	}
	if in.Settings.Pause {
		out.Reason = "PAUSE: " + out.Reason
	}
	return out
}

func requestAction(k RequestKind) Kind {
	if k == RequestReinitialize {
		return KindReinitialize
	}
	return KindRestart
}

func decide(in Input) Output {
	if in.Shutdown {
		if in.Settings.Pause {
			return Output{Reason: "Leader key is not deleted and Postgresql is not stopped due paused state"}
		}
		return shutdown(in)
	}
	if in.Cluster == nil {
		return dcsUnavailable(in)
	}
	c := in.Cluster
	iHold := c.LeaderName() == in.Settings.Name
	if in.Busy != nil {
		return busy(in, iHold)
	}
	if in.PG.DataDirEmpty {
		return uninitialized(in, iHold)
	}
	if sysid, ok := c.InitializedSysID(); ok && in.PG.SysID != "" && sysid != in.PG.SysID {
		msg := fmt.Sprintf("system ID mismatch, node %s belongs to a different cluster: %s != %s (the cluster's initialize key holds %s, the data directory holds %s); refusing to join, the data directory is left untouched",
			in.Settings.Name, sysid, in.PG.SysID, sysid, in.PG.SysID)
		return Output{Plan: Plan{{Kind: KindExit, Message: msg}}, Reason: msg}
	}
	if out, ok := takeOver(in); ok {
		return out
	}
	out := decideWithData(in, iHold)
	out.Plan = append(housekeeping(in, iHold), out.Plan...)
	return out
}

// housekeeping writes the keys the lock holder (or a node taking over an existing data
// directory) owes the cluster.
func housekeeping(in Input, iHold bool) Plan {
	c := in.Cluster
	var p Plan
	if _, valid := c.InitializedSysID(); !valid && in.PG.SysID != "" && (iHold || (c.Initialize == nil && !c.Locked() && !in.Settings.Pause)) {
		p = append(p, Action{Kind: KindWriteInitialize, SysID: in.PG.SysID, IfAbsent: c.Initialize == nil})
	}
	if iHold && c.Config == nil {
		p = append(p, Action{Kind: KindWriteConfig})
	}
	return p
}

func decideWithData(in Input, iHold bool) Output {
	c := in.Cluster
	if iHold && in.PrePromoteFailed {
		return Output{
			Plan:   Plan{{Kind: KindReleaseLeader, Backoff: true}},
			Reason: "Promotion cancelled because the pre-promote script failed",
		}
	}
	if in.Request != nil {
		if out, ok := request(in, iHold); ok {
			return out
		}
	}
	if !in.PG.Running {
		return recoverPostgres(in, iHold)
	}
	if !c.Locked() {
		return race(in)
	}
	if iHold {
		return leader(in)
	}
	return follower(in, c.LeaderName())
}

func shutdown(in Input) Output {
	var p Plan
	if in.Busy != nil {
		p = append(p, Action{Kind: KindCancelBusy})
	}
	if in.PG.Running {
		p = append(p, Action{Kind: KindStop, Mode: StopFast})
	}
	holds := in.Cluster.LeaderName() == in.Settings.Name || (in.Cluster == nil && !in.LastRefresh.IsZero())
	if holds {
		p = append(p, Action{Kind: KindReleaseLeader})
		return Output{Plan: p, Reason: "shutting down: stopped PostgreSQL, then released the leader key"}
	}
	return Output{Plan: p, Reason: "shutting down: stopped PostgreSQL"}
}

// leaseDeadline is when a primary must have stopped accepting writes if it cannot
// refresh: the lease outlives the last successful refresh by at least ttl (and every
// member's failsafe promise outlives the confirmed request by ttl), and retry_timeout
// is left for the shutdown itself.
func leaseDeadline(in Input) time.Time {
	return LeaseDeadline(in.Settings, in.LeaseTTL, trusted(in))
}

// LeaseDeadline is leaseDeadline for the leadership vouched for at trusted, with the
// leader key on a lease of TTL held.
func LeaseDeadline(s Settings, held time.Duration, trusted time.Time) time.Time {
	return trusted.Add(HeldTTL(s, held) - s.RetryTimeout)
}

// HeldTTL is the ttl the primary's deadlines count with: the shorter of the configured
// ttl and the TTL of the lease the key is actually on (zero: unknown, the configured
// one). When ttl is raised, the key stays on the old, shorter lease until a refresh
// succeeds; counting with the new ttl meanwhile would keep a primary writing after its
// key expired. When ttl is lowered, the new value is the promise the others now count on.
func HeldTTL(s Settings, held time.Duration) time.Duration {
	if held > 0 && held < s.TTL {
		return held
	}
	return s.TTL
}

func primaryRunning(pg Postgres) bool { return pg.Running && pg.Ready && !pg.InRecovery }

func dcsUnavailable(in Input) Output {
	if !primaryRunning(in.PG) {
		return Output{Reason: "DCS is not accessible", RetryIn: time.Second}
	}
	if in.Settings.Pause {
		return Output{Reason: "continue to run as primary after failing to update leader lock in DCS", RetryIn: time.Second}
	}
	deadline := leaseDeadline(in)
	if in.LastRefresh.IsZero() || !in.Now.Before(deadline) {
		return Output{
			Plan:   Plan{{Kind: KindStop, Mode: StopImmediate}, {Kind: KindFollow}},
			Reason: "demoted self because DCS is not accessible and I was a leader",
		}
	}
	left := deadline.Sub(in.Now)
	if failsafeExtends(in) {
		return Output{
			Reason:  fmt.Sprintf("continue to run as a leader because failsafe mode is enabled and all members are accessible (for %s unless confirmed again)", left.Round(100*time.Millisecond)),
			RetryIn: min(time.Second, left),
		}
	}
	return Output{
		Reason:  fmt.Sprintf("DCS is not accessible: continuing as primary for %s, until the leader lease can no longer be trusted", left.Round(100*time.Millisecond)),
		RetryIn: min(time.Second, left),
	}
}

func busy(in Input, iHold bool) Output {
	b := in.Busy
	if r := in.Request; r != nil {
		if r.Kind == RequestReinitialize && r.Force && !iHold && in.Cluster.Locked() {
			return Output{
				Plan:   Plan{{Kind: KindCancelBusy}, {Kind: KindStop, Mode: StopImmediate}, {Kind: KindReinitialize, Member: in.Cluster.LeaderName()}},
				Reason: fmt.Sprintf("reinitialize requested with force: cancelled %s, cloning from leader '%s'", b.Action, in.Cluster.LeaderName()),
			}
		}
		out := busyOutput(in, iHold)
		out.Refused = fmt.Sprintf("%s already in progress", b.Action)
		return out
	}
	return busyOutput(in, iHold)
}

func busyOutput(in Input, iHold bool) Output {
	b := in.Busy
	if iHold {
		if b.Action == KindStartPrimary && !in.Settings.Pause && in.Now.Sub(b.Since) > in.Settings.PrimaryStartTimeout && failoverPossible(in) {
			return Output{
				Plan:   Plan{{Kind: KindCancelBusy}, {Kind: KindStop, Mode: StopImmediate}, {Kind: KindReleaseLeader}},
				Reason: "stopped PostgreSQL because of startup timeout",
			}
		}
		return Output{Plan: Plan{{Kind: KindRefreshLeader}}, Reason: fmt.Sprintf("updated leader lock during %s", b.Action)}
	}
	if b.Action == KindPromote || b.Action == KindStartPrimary {
		return Output{
			Plan:   Plan{{Kind: KindCancelBusy}, {Kind: KindStop, Mode: StopImmediate}},
			Reason: fmt.Sprintf("lost leader lock during %s", b.Action),
		}
	}
	return Output{Reason: fmt.Sprintf("%s in progress", b.Action)}
}

func uninitialized(in Input, iHold bool) Output {
	c := in.Cluster
	if iHold {
		return Output{Plan: Plan{{Kind: KindReleaseLeader}}, Reason: "released leader key voluntarily as data dir empty and currently leader"}
	}
	if in.Settings.Pause {
		return Output{Reason: "running with empty data directory"}
	}
	if c.Locked() {
		if from, replica := cloneSource(c, in.Settings.Name); replica {
			return Output{Plan: Plan{{Kind: KindClone, Member: from}}, Reason: fmt.Sprintf("trying to bootstrap from replica '%s'", from)}
		}
		return Output{Plan: Plan{{Kind: KindClone, Member: c.LeaderName()}}, Reason: fmt.Sprintf("trying to bootstrap from leader '%s'", c.LeaderName())}
	}
	if c.Initialize == nil && in.Settings.CanBootstrap && !in.Settings.NoFailover {
		if inStandbyCluster(in) {
			// A standby leader is not a primary: no watchdog needed.
			return Output{
				Plan:       Plan{{Kind: KindTakeInitialize}, {Kind: KindBootstrap, Member: remoteUpstream(in.Settings).Member}},
				Reason:     "trying to bootstrap a new standby leader",
				FailReason: "failed to acquire initialize lock",
			}
		}
		if in.WatchdogUnusable {
			return Output{Reason: "not bootstrapping a new cluster: " + watchdogNotUsable}
		}
		return Output{
			Plan:       Plan{{Kind: KindTakeInitialize}, {Kind: KindBootstrap}},
			Reason:     "trying to bootstrap a new cluster",
			FailReason: "failed to acquire initialize lock",
		}
	}
	if in.Settings.CloneWithoutLeader && !bootstrapping(c) {
		return Output{Plan: Plan{{Kind: KindClone}}, Reason: "trying to bootstrap (without leader)"}
	}
	if inStandbyCluster(in) {
		return Output{Reason: "waiting for standby_leader to bootstrap"}
	}
	return Output{Reason: "waiting for leader to bootstrap"}
}

// bootstrapping: another member holds the initialize key for a bootstrap in progress
// (the key exists and is still empty).
func bootstrapping(c *cluster.Cluster) bool { return c.Initialize != nil && *c.Initialize == "" }

func recoverPostgres(in Input, iHold bool) Output {
	if in.Settings.Pause && !(in.Demoted && !iHold) {
		if iHold {
			return Output{Plan: Plan{{Kind: KindReleaseLeader}}, Reason: "removed leader lock because postgres is not running"}
		}
		return Output{Reason: "postgres is not running"}
	}
	if iHold {
		if in.WatchdogUnusable && !inStandbyCluster(in) {
			return Output{Plan: Plan{{Kind: KindReleaseLeader}}, Reason: "Not promoting self because watchdog could not be activated"}
		}
		if in.StartFailed {
			return Output{Plan: Plan{{Kind: KindReleaseLeader}}, Reason: "removed leader key after trying and failing to start postgres"}
		}
		if in.Settings.PrimaryStartTimeout == 0 && failoverPossible(in) {
			return Output{Plan: Plan{{Kind: KindReleaseLeader}}, Reason: "stopped PostgreSQL to fail over after a crash"}
		}
		if inStandbyCluster(in) {
			return Output{Plan: Plan{{Kind: KindRefreshLeader}, followAction(remoteUpstream(in.Settings))}, Reason: "starting as a standby leader because i had the session lock"}
		}
		return Output{Plan: Plan{{Kind: KindRefreshLeader}, {Kind: KindStartPrimary}}, Reason: "starting primary after failure"}
	}
	u := myUpstream(in)
	if inStandbyCluster(in) && !in.Cluster.Locked() {
		return Output{Plan: Plan{followAction(u)}, Reason: "trying to follow a remote member because standby cluster is unhealthy"}
	}
	return Output{Plan: Plan{followAction(u)}, Reason: withWhy("starting as a secondary", u)}
}

func leader(in Input) Output {
	if inStandbyCluster(in) {
		return standbyLeader(in)
	}
	s := in.Settings
	lockFailing := in.LockLost || (!in.LastRefresh.IsZero() && !in.Now.Before(leaseDeadline(in)))
	if s.Pause {
		switch {
		case primaryRunning(in.PG) && lockFailing:
			return Output{Plan: Plan{{Kind: KindRefreshLeader}}, Reason: "continue to run as primary after failing to update leader lock in DCS"}
		case in.PG.Ready && in.PG.InRecovery:
			return Output{Plan: Plan{{Kind: KindReleaseLeader}}, Reason: "removed leader lock because postgres is not running as primary"}
		}
	}
	if primaryRunning(in.PG) && lockFailing {
		return Output{
			Plan:   Plan{{Kind: KindStop, Mode: StopImmediate}, {Kind: KindFollow}},
			Reason: "demoted self because failed to update leader lock in DCS",
		}
	}
	if in.WatchdogUnusable && !s.Pause {
		return watchdogRefusal(in)
	}
	if out, ok := hungPostgres(in); ok {
		return out
	}
	if !in.PG.Ready {
		return Output{Plan: Plan{{Kind: KindRefreshLeader}}, Reason: "updated leader lock while PostgreSQL is starting up"}
	}
	if in.PG.InRecovery && len(in.PG.Insufficient) > 0 && !s.Pause {
		return Output{
			Plan:   Plan{{Kind: KindRefreshLeader}, {Kind: KindRestart}},
			Reason: "restarting before promotion: " + insufficient(in.PG),
		}
	}
	if in.PG.InRecovery {
		p := append(Plan{{Kind: KindRefreshLeader}}, promotionSyncSteps(in)...)
		p = append(p, watchdogStep(in)...)
		return Output{
			Plan:       append(p, Action{Kind: KindPromote}),
			Reason:     "promoted self to leader because I had the session lock",
			FailReason: "not promoting because failed to update leader lock in DCS",
		}
	}
	if out, ok := manualFailover(in); ok {
		return out
	}
	return steadyLeader(in)
}

func steadyLeader(in Input) Output {
	p := append(Plan{{Kind: KindRefreshLeader}}, watchdogStep(in)...)
	p = append(p, syncPlan(in)...)
	if in.Settings.UseSlots {
		p = append(p, ensureSlots(in, true))
	}
	return Output{Plan: p, Reason: fmt.Sprintf("no action. I am (%s), the leader with the lock", in.Settings.Name)}
}

func follower(in Input, holder string) Output {
	s := in.Settings
	if primaryRunning(in.PG) && s.Pause {
		return Output{Reason: "continue to run as primary without lock"}
	}
	u := myUpstream(in)
	leaderWord := "a leader"
	if inStandbyCluster(in) {
		leaderWord = "a standby leader"
	}
	if primaryRunning(in.PG) {
		reason := "demoting self because I do not have the lock and I was a leader"
		if inStandbyCluster(in) {
			reason = "cannot be a real primary in a standby cluster"
		}
		return Output{Plan: Plan{{Kind: KindStop, Mode: StopImmediate}, followAction(u)}, Reason: reason}
	}
	if !in.PG.Ready {
		return Output{Reason: fmt.Sprintf("no action. I am (%s), a secondary, waiting for PostgreSQL to accept connections", s.Name)}
	}
	if len(in.PG.Insufficient) > 0 {
		if s.Pause {
			return Output{Reason: "not restarting in maintenance mode: " + insufficient(in.PG)}
		}
		return Output{Plan: Plan{{Kind: KindRestart}}, Reason: "restarting: " + insufficient(in.PG)}
	}
	if why, ahead := aheadOfStandbyLeader(in); ahead && !s.Pause {
		return Output{Plan: Plan{followAction(u)}, Reason: why}
	}
	if in.PG.Upstream != u.Member {
		return Output{
			Plan:   Plan{followAction(u)},
			Reason: withWhy(fmt.Sprintf("changing primary_conninfo to follow %s (%s)", leaderWord, holder), u),
		}
	}
	out := Output{Reason: withWhy(fmt.Sprintf("no action. I am (%s), a secondary, and following %s (%s)", s.Name, leaderWord, holder), u)}
	if s.UseSlots {
		if names := slotsToCopy(in); len(names) > 0 {
			return Output{
				Plan:   Plan{{Kind: KindCopySlots, Member: holder, SlotNames: names}},
				Reason: fmt.Sprintf("Copying logical slots %s from the primary", pyList(names)),
			}
		}
		out.Plan = Plan{ensureSlots(in, false)}
	}
	return out
}

// withWhy adds the reason a replica's upstream is not simply the leader.
func withWhy(reason string, u Upstream) string {
	if u.Why == "" {
		return reason
	}
	return reason + "; " + u.Why
}

// insufficient explains a standby stopped by the primary's raised parameters.
func insufficient(pg Postgres) string {
	return fmt.Sprintf("replay is paused because hot standby is not possible with insufficient parameter settings (%s); a restart starts it with the primary's values", strings.Join(pg.Insufficient, ", "))
}

// failoverPossible: another member could take over (it is running and may be promoted).
func failoverPossible(in Input) bool {
	for _, m := range in.Cluster.Members {
		if m.Name != in.Settings.Name && m.State == "running" && !m.NoFailover() {
			return true
		}
	}
	return false
}

// FenceDeadline is when the fencing process stops PostgreSQL if the agent has not
// refreshed the lease since lastRefresh: after the agent's own demotion deadline
// (ttl - retry_timeout), so a live agent always acts first, and half a retry_timeout
// before the lease can expire.
func FenceDeadline(s Settings, held time.Duration, lastRefresh time.Time) time.Time {
	return lastRefresh.Add(HeldTTL(s, held) - s.RetryTimeout/2)
}

// watchdogNotUsable is Patroni's log line for a required watchdog that cannot be used.
const watchdogNotUsable = "Watchdog device is not usable"

// watchdogStep activates the watchdog before the primary takes writes under the lock;
// it is not used in maintenance mode.
func watchdogStep(in Input) Plan {
	if in.Settings.Watchdog && !in.WatchdogActive && !in.Settings.Pause {
		return Plan{{Kind: KindActivateWatchdog}}
	}
	return nil
}

// watchdogRefusal: the lock holder's watchdog is required but unusable, so it may not
// be primary: a running primary stops at once and hands the lock back, a node not yet
// promoted only hands it back (Patroni's enforce_primary_role).
func watchdogRefusal(in Input) Output {
	if in.PG.Running && !in.PG.InRecovery {
		return Output{
			Plan:   Plan{{Kind: KindStop, Mode: StopImmediate}, {Kind: KindReleaseLeader}, {Kind: KindFollow}},
			Reason: "Demoting self because watchdog could not be activated",
		}
	}
	return Output{Plan: Plan{{Kind: KindReleaseLeader}}, Reason: "Not promoting self because watchdog could not be activated"}
}
