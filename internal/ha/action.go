package ha

import (
	"fmt"
	"strings"
)

// Kind names an action; the set is closed.
type Kind string

const (
	KindTakeInitialize  Kind = "take-initialize"
	KindBootstrap       Kind = "bootstrap"
	KindWriteInitialize Kind = "write-initialize"
	KindWriteConfig     Kind = "write-config"
	KindTakeLeader      Kind = "take-leader"
	KindRefreshLeader   Kind = "refresh-leader"
	KindReleaseLeader   Kind = "release-leader"
	KindPromote         Kind = "promote"
	KindStop            Kind = "stop"
	KindStartPrimary    Kind = "start-primary"
	KindFollow          Kind = "follow"
	KindClone           Kind = "clone"
	KindEnsureSlots     Kind = "ensure-slots"
	KindCopySlots       Kind = "copy-slots"
	KindCancelBusy      Kind = "cancel-busy"
	KindExit            Kind = "exit"
	// KindDemote is the graceful demotion of a switchover: checkpoint, fast shutdown
	// (which hands the last WAL to the streaming replicas), release the leader key.
	KindDemote        Kind = "demote"
	KindClearFailover Kind = "clear-failover"
	KindRestart       Kind = "restart"
	KindReinitialize  Kind = "reinitialize"
	// KindSetSyncStandbys sets synchronous_standby_names (Value) and reloads; an empty
	// Value with Release hands the parameter back to the configuration.
	KindSetSyncStandbys Kind = "set-sync-standbys"
	// KindWriteSync writes the /sync key: this leader and Standbys.
	KindWriteSync  Kind = "write-sync"
	KindDeleteSync Kind = "delete-sync"
	// KindActivateWatchdog opens and configures the watchdog device; it fails only when
	// the watchdog is required and cannot be configured safely, and so stops a plan
	// before Promote.
	KindActivateWatchdog Kind = "activate-watchdog"
)

// StopMode is how PostgreSQL is stopped.
type StopMode string

const (
	StopFast      StopMode = "fast"
	StopImmediate StopMode = "immediate"
)

// Action is one step of a plan.
type Action struct {
	Kind Kind
	// Member: the source for Follow/Clone ("" for Follow: no primary_conninfo); for
	// Bootstrap in a standby cluster, the remote primary (RemotePrefix...).
	Member string
	// Leader (Follow): the leader key holder, whose timeline the data must follow ("":
	// none, no check); it differs from Member for a cascading replica.
	Leader string
	// Mode for Stop.
	Mode StopMode
	// SysID for WriteInitialize; IfAbsent makes it a create-only write, so two nodes
	// taking over different clusters cannot both claim the key.
	SysID    string
	IfAbsent bool
	// SlotTargets for EnsureSlots: the slots this node must keep.
	SlotTargets *SlotTargets
	// SlotNames for CopySlots: the logical slots to copy from Member, the leader.
	SlotNames []string
	// Message for Exit.
	Message string
	// Standbys and, in quorum mode, Quorum for WriteSync; Value and Release for
	// SetSyncStandbys.
	Standbys []string
	Quorum   *int
	Value    string
	Release  bool
	// Backoff (ReleaseLeader): the release follows a failed pre_promote script; the
	// shell records its time as Input.PrePromoteReleased.
	Backoff bool
}

// Long reports whether the action runs in the background worker: the HA loop keeps
// refreshing the lock meanwhile.
func (a Action) Long() bool {
	switch a.Kind {
	case KindBootstrap, KindClone, KindFollow, KindStartPrimary, KindPromote, KindDemote, KindRestart, KindReinitialize, KindCopySlots:
		return true
	}
	return false
}

func (a Action) String() string {
	switch a.Kind {
	case KindFollow:
		switch {
		case a.Leader == "" || a.Leader == a.Member:
			return fmt.Sprintf("%s(%s)", a.Kind, a.Member)
		case a.Member == "":
			return fmt.Sprintf("%s(no stream, leader %s)", a.Kind, a.Leader)
		}
		return fmt.Sprintf("%s(%s, leader %s)", a.Kind, a.Member, a.Leader)
	case KindBootstrap:
		if a.Member != "" {
			return fmt.Sprintf("%s(%s)", a.Kind, a.Member)
		}
	case KindClone, KindReinitialize:
		if a.Member == "" {
			return fmt.Sprintf("%s(without leader)", a.Kind)
		}
		return fmt.Sprintf("%s(%s)", a.Kind, a.Member)
	case KindReleaseLeader:
		if a.Backoff {
			return fmt.Sprintf("%s(backoff)", a.Kind)
		}
	case KindStop:
		return fmt.Sprintf("%s(%s)", a.Kind, a.Mode)
	case KindWriteInitialize:
		if a.IfAbsent {
			return fmt.Sprintf("%s(%s,if-absent)", a.Kind, a.SysID)
		}
		return fmt.Sprintf("%s(%s)", a.Kind, a.SysID)
	case KindEnsureSlots:
		return fmt.Sprintf("%s(%s)", a.Kind, a.SlotTargets)
	case KindCopySlots:
		return fmt.Sprintf("%s(%s: %s)", a.Kind, a.Member, strings.Join(a.SlotNames, ","))
	case KindWriteSync:
		if a.Quorum != nil {
			return fmt.Sprintf("%s(%s quorum=%d)", a.Kind, strings.Join(a.Standbys, ","), *a.Quorum)
		}
		return fmt.Sprintf("%s(%s)", a.Kind, strings.Join(a.Standbys, ","))
	case KindSetSyncStandbys:
		if a.Release {
			return fmt.Sprintf("%s(released)", a.Kind)
		}
		return fmt.Sprintf("%s(%q)", a.Kind, a.Value)
	}
	return string(a.Kind)
}

// Plan is an ordered list of actions; the executor stops at the first failure.
type Plan []Action

func (p Plan) String() string {
	parts := make([]string, len(p))
	for i, a := range p {
		parts[i] = a.String()
	}
	return strings.Join(parts, " -> ")
}

// Has reports whether the plan contains an action of the kind.
func (p Plan) Has(k Kind) bool {
	for _, a := range p {
		if a.Kind == k {
			return true
		}
	}
	return false
}
