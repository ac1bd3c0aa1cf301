package api

import (
	"encoding/json"
	"fmt"

	"github.com/warden-ha/warden/internal/cluster"
)

// statusJSON is GET /patroni. Field order follows Patroni's dict insertion order so the
// body reads the same; omitempty reproduces the keys Patroni leaves out.
type statusJSON struct {
	State                string                         `json:"state"`
	PostmasterStartTime  string                         `json:"postmaster_start_time,omitempty"`
	Role                 string                         `json:"role"`
	ServerVersion        int                            `json:"server_version,omitempty"`
	XLog                 *xlogJSON                      `json:"xlog,omitempty"`
	SyncStandby          bool                           `json:"sync_standby,omitempty"`
	QuorumStandby        bool                           `json:"quorum_standby,omitempty"`
	Timeline             int                            `json:"timeline,omitempty"`
	Replication          []ReplicationRow               `json:"replication,omitempty"`
	ReplicationState     string                         `json:"replication_state,omitempty"`
	ClusterUnlocked      bool                           `json:"cluster_unlocked,omitempty"`
	FailsafeActive       bool                           `json:"failsafe_mode_is_active,omitempty"`
	DCSLastSeen          int64                          `json:"dcs_last_seen"`
	Tags                 map[string]any                 `json:"tags,omitempty"`
	SysID                string                         `json:"database_system_identifier,omitempty"`
	PendingRestart       bool                           `json:"pending_restart,omitempty"`
	PendingRestartReason map[string]cluster.ParamChange `json:"pending_restart_reason,omitempty"`
	ScheduledRestart     map[string]any                 `json:"scheduled_restart,omitempty"`
	Patroni              patroniJSON                    `json:"patroni"`
	WatchdogFailed       bool                           `json:"watchdog_failed,omitempty"`
	Pause                bool                           `json:"pause,omitempty"`
}

// xlogJSON has either location (primary) or the replica fields; pointers keep the
// zero LSN visible while omitting the other shape.
type xlogJSON struct {
	Location          *uint64 `json:"location,omitempty"`
	ReceivedLocation  *uint64 `json:"received_location,omitempty"`
	ReplayedLocation  *uint64 `json:"replayed_location,omitempty"`
	ReplayedTimestamp *string `json:"replayed_timestamp"`
	Paused            *bool   `json:"paused,omitempty"`
}

// MarshalJSON drops replayed_timestamp on a primary, where Patroni has only location.
func (x xlogJSON) MarshalJSON() ([]byte, error) {
	if x.Location != nil {
		return json.Marshal(struct {
			Location uint64 `json:"location"`
		}{*x.Location})
	}
	type replica xlogJSON
	return json.Marshal(replica(x))
}

type patroniJSON struct {
	Version string `json:"version"`
	Scope   string `json:"scope"`
	Name    string `json:"name"`
}

// view is what the handlers decide on: the status as Patroni's status query would have
// reported it.
type view struct {
	st    *Status
	state string
	role  string
	body  []byte
}

func newView(st *Status) (*view, error) {
	v := &view{st: st, state: st.State, role: string(st.Role)}
	if v.role == "master" {
		v.role = string(cluster.RolePrimary)
	}
	if !st.PostgresReachable && v.state == "running" {
		// Patroni: running but the status query failed.
		v.state = "unknown"
	}
	j := statusJSON{
		State:                v.state,
		Role:                 st.Dialect.RoleWord(cluster.Role(v.role)),
		ClusterUnlocked:      st.ClusterUnlocked || !st.DCSAvailable,
		FailsafeActive:       st.FailsafeActive,
		Tags:                 st.Tags,
		SysID:                st.SysID,
		PendingRestart:       st.PendingRestart,
		PendingRestartReason: st.PendingRestartReason,
		ScheduledRestart:     st.ScheduledRestart,
		Patroni:              patroniJSON{Version: st.Dialect.APIVersion(), Scope: st.Scope, Name: st.Name},
		WatchdogFailed:       st.WatchdogFailed,
		Pause:                st.Pause,
	}
	if !st.DCSLastSeen.IsZero() {
		j.DCSLastSeen = st.DCSLastSeen.Unix()
	}
	if len(j.Tags) == 0 {
		j.Tags = nil
	}
	if st.PostgresReachable {
		j.PostmasterStartTime = st.PostmasterStartTime
		j.ServerVersion = st.ServerVersion
		j.Timeline = st.Timeline
		j.Replication = st.Replication
		if cluster.Role(v.role).IsPrimary() {
			loc := st.XLogLocation
			j.XLog = &xlogJSON{Location: &loc}
		} else {
			recv, repl, paused := st.ReceivedLocation, st.ReplayedLocation, st.ReplayPaused
			if recv == 0 {
				// Patroni: received_location falls back to replayed when NULL.
				recv = repl
			}
			j.XLog = &xlogJSON{ReceivedLocation: &recv, ReplayedLocation: &repl,
				ReplayedTimestamp: st.ReplayedTimestamp, Paused: &paused}
			j.ReplicationState = st.ReplicationState
			j.SyncStandby, j.QuorumStandby = v.syncStandby(), v.quorumStandby()
		}
	}
	body, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("encode status: %w", err)
	}
	v.body = body
	return v, nil
}

// syncStandby: Patroni reports sync_standby only for a replica listed in /sync while
// synchronous_mode is on, and only with a DCS view.
func (v *view) syncStandby() bool {
	return v.inSync() && !v.st.QuorumMode
}

// quorumStandby is Patroni 4's quorum_standby: the same, in synchronous_mode quorum.
func (v *view) quorumStandby() bool {
	return v.inSync() && v.st.QuorumMode
}

func (v *view) inSync() bool {
	return v.role == string(cluster.RoleReplica) && v.st.SyncMode && v.st.SyncStandby && v.st.DCSAvailable
}
