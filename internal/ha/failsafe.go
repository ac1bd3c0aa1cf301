package ha

import (
	"fmt"
	"slices"
	"time"
)

// Failsafe is a node's failsafe_mode state as its shell tracks it.
type Failsafe struct {
	// Members are the names in the /failsafe key as last read from the DCS (nil when
	// the key was never read or is absent).
	Members []string
	// Confirmed maps each member that accepted this leader's POST /failsafe during the
	// current DCS outage to the time the accepted request was sent.
	Confirmed map[string]time.Time
	// AcceptedAt is when this member last accepted a POST /failsafe; AcceptedFrom names
	// the sender.
	AcceptedAt   time.Time
	AcceptedFrom string
	// AgentStart is when this agent process started: a restarted agent has forgotten
	// any acceptance its previous process gave.
	AgentStart time.Time
}

// FailsafeVouched returns the instant from which the members' confirmations vouch for
// this primary, as a refresh sent then would: every other member listed in /failsafe
// accepted a POST /failsafe, and none of them takes the leader key within ttl of
// receiving it, which is no earlier than its sending. The result is the earliest send
// time among them (now when no other member is listed: no one is left who could be
// promoted, since an unlisted member never races). Zero when failsafe does not vouch.
func FailsafeVouched(s Settings, f Failsafe, now time.Time) time.Time {
	if !s.FailsafeMode || !slices.Contains(f.Members, s.Name) {
		return time.Time{}
	}
	vouched := now
	for _, m := range f.Members {
		if m == s.Name {
			continue
		}
		sent, ok := f.Confirmed[m]
		if !ok {
			return time.Time{}
		}
		if sent.Before(vouched) {
			vouched = sent
		}
	}
	return vouched
}

// Trusted is when this node's leadership was last vouched for: its last lease refresh,
// or later failsafe confirmations, counted loop_wait before they were sent. Zero when it
// does not hold the lock. The lease needs no such allowance: the first decision after a
// failed refresh comes no earlier than loop_wait + retry_timeout later, at or after the
// deadline. Confirmations are renewed every cycle, so the decision that must demote may
// follow one that continued, and a loop running up to loop_wait late must still leave
// retry_timeout before the members' promises end.
func Trusted(s Settings, lastRefresh time.Time, f Failsafe, now time.Time) time.Time {
	v := FailsafeVouched(s, f, now)
	if v.IsZero() || lastRefresh.IsZero() {
		return lastRefresh
	}
	if v = v.Add(-s.LoopWait); v.After(lastRefresh) {
		return v
	}
	return lastRefresh
}

func trusted(in Input) time.Time { return Trusted(in.Settings, in.LastRefresh, in.Failsafe, in.Now) }

// failsafeExtends: the confirmations, not the lease, decide how long this primary runs.
func failsafeExtends(in Input) bool {
	return trusted(in).After(in.LastRefresh)
}

// FailsafeAnswer is the answer to a POST /failsafe.
type FailsafeAnswer struct {
	Accept  bool
	Code    int
	Message string
}

// AnswerFailsafe decides whether this member accepts another member's POST /failsafe.
// Patroni's rules (502 when failsafe_mode is off, 500 "Running as a leader" for a running
// primary, here also for a member taking or holding the leader key) plus Warden's: a
// member that can read the DCS refuses, because it sees for itself whether the sender
// still holds the lock, and because the members that reach the DCS are the ones who
// may take over.
func AnswerFailsafe(s Settings, leader, dcsReachable bool) FailsafeAnswer {
	switch {
	case !s.FailsafeMode:
		return FailsafeAnswer{Code: 502, Message: "failsafe mode is not enabled"}
	case leader:
		return FailsafeAnswer{Code: 500, Message: "Running as a leader"}
	case dcsReachable:
		return FailsafeAnswer{Code: 500, Message: "DCS is accessible"}
	}
	return FailsafeAnswer{Accept: true, Code: 200, Message: "Accepted"}
}

// failsafeHold says why this member must not race for the leader key while failsafe_mode
// is on; "" when it may. A member that accepted a POST /failsafe within ttl promised the
// sender not to (the sender may still accept writes); a member whose agent started
// within ttl may have made that promise before the restart; a member missing from a
// non-empty /failsafe key was never asked, so the sender's confirmations do not cover it.
func failsafeHold(in Input) string {
	s, f := in.Settings, in.Failsafe
	if !s.FailsafeMode {
		return ""
	}
	if !f.AcceptedAt.IsZero() && in.Now.Before(f.AcceptedAt.Add(s.TTL)) {
		return fmt.Sprintf("accepted POST /failsafe from %s %s ago, the leader it vouches for may still be running", f.AcceptedFrom, in.Now.Sub(f.AcceptedAt).Round(100*time.Millisecond))
	}
	if !f.AgentStart.IsZero() && in.Now.Before(f.AgentStart.Add(s.TTL)) {
		return "started less than ttl ago in failsafe mode, an acceptance given before the restart may still hold"
	}
	if !failsafeMayRace(in, s.Name) {
		return "not listed in the /failsafe key"
	}
	return ""
}

// failsafeMayRace: with failsafe_mode on and a non-empty /failsafe key, only the members
// it lists may win a leader race; the others are not waited for either.
func failsafeMayRace(in Input, name string) bool {
	f := in.Failsafe
	return !in.Settings.FailsafeMode || len(f.Members) == 0 || slices.Contains(f.Members, name)
}
