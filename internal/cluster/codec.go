package cluster

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
)

// Version is the Patroni-compatible version string Warden publishes.
const Version = "3.0.2"

type memberJSON struct {
	ConnURL                string                 `json:"conn_url"`
	APIURL                 string                 `json:"api_url"`
	State                  string                 `json:"state"`
	Role                   string                 `json:"role"`
	Version                string                 `json:"version"`
	XLogLocation           *uint64                `json:"xlog_location,omitempty"`
	Timeline               int                    `json:"timeline,omitempty"`
	ReplicationState       string                 `json:"replication_state,omitempty"`
	Tags                   map[string]any         `json:"tags,omitempty"`
	PendingRestart         bool                   `json:"pending_restart,omitempty"`
	PendingRestartReason   map[string]ParamChange `json:"pending_restart_reason,omitempty"`
	ScheduledRestart       map[string]any         `json:"scheduled_restart,omitempty"`
	CheckpointAfterPromote *bool                  `json:"checkpoint_after_promote,omitempty"`
	Pause                  bool                   `json:"pause,omitempty"`
}

// EncodeMember renders members/<name> as Patroni does (compact JSON).
func EncodeMember(m Member) []byte {
	b, _ := json.Marshal(memberJSON{
		ConnURL: m.ConnURL, APIURL: m.APIURL, State: m.State, Role: string(m.Role),
		Version: m.Version, XLogLocation: m.XLogLocation, Timeline: m.Timeline,
		ReplicationState: m.ReplicationState, Tags: m.Tags, PendingRestart: m.PendingRestart, ScheduledRestart: m.ScheduledRestart,
		PendingRestartReason:   m.PendingRestartReason,
		CheckpointAfterPromote: m.CheckpointAfterPromote, Pause: m.Pause,
	})
	return b
}

// DecodeMember parses a member value written by Warden or Patroni. Garbage yields a
// member with only its name: Patroni treats unparsable data as {}.
func DecodeMember(name string, value []byte) Member {
	m := Member{Name: name}
	if bytes.HasPrefix(value, []byte("postgres")) {
		// Governor's legacy format: a URL whose application_name is the api_url.
		m.ConnURL = string(value)
		return m
	}
	var raw map[string]json.RawMessage
	if json.Unmarshal(value, &raw) != nil {
		return m
	}
	str := func(k string) string {
		var s string
		_ = json.Unmarshal(raw[k], &s)
		return s
	}
	m.ConnURL, m.APIURL, m.State, m.Version = str("conn_url"), str("api_url"), str("state"), str("version")
	m.Role = Role(str("role"))
	m.RoleWritten = string(m.Role)
	if m.Role == "master" {
		m.Role = RolePrimary
	}
	m.ReplicationState = str("replication_state")
	if v, ok := raw["xlog_location"]; ok {
		if n, ok := jsonUint(v); ok {
			m.XLogLocation = &n
		}
	}
	if v, ok := raw["timeline"]; ok {
		if n, ok := jsonUint(v); ok && n < 1<<31 {
			m.Timeline = int(n)
		}
	}
	if v, ok := raw["tags"]; ok {
		var tags map[string]any
		if json.Unmarshal(v, &tags) == nil {
			m.Tags = tags
		}
	}
	if v, ok := raw["scheduled_restart"]; ok {
		var sr map[string]any
		if json.Unmarshal(v, &sr) == nil {
			m.ScheduledRestart = sr
		}
	}
	var b bool
	if json.Unmarshal(raw["pending_restart"], &b) == nil {
		m.PendingRestart = b
	}
	if v, ok := raw["pending_restart_reason"]; ok {
		var r map[string]ParamChange
		if json.Unmarshal(v, &r) == nil && len(r) > 0 {
			m.PendingRestartReason = r
		}
	}
	if v, ok := raw["checkpoint_after_promote"]; ok {
		var c bool
		if json.Unmarshal(v, &c) == nil {
			m.CheckpointAfterPromote = &c
		}
	}
	if json.Unmarshal(raw["pause"], &b) == nil {
		m.Pause = b
	}
	return m
}

func jsonUint(v json.RawMessage) (uint64, bool) {
	var f json.Number
	d := json.NewDecoder(bytes.NewReader(v))
	d.UseNumber()
	if d.Decode(&f) != nil {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return 0, false
		}
		f = json.Number(s)
	}
	n, err := strconv.ParseUint(f.String(), 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// EncodeStatus renders /status: {"optime":N,"slots":{...}}.
func EncodeStatus(s Status) []byte {
	v := map[string]any{"optime": s.Optime}
	if len(s.Slots) > 0 {
		v["slots"] = s.Slots
	}
	if s.RetainSlots != nil {
		v["retain_slots"] = s.RetainSlots
	}
	b, _ := json.Marshal(v)
	return b
}

// DecodeStatus parses /status; the legacy optime/leader plain number is accepted too.
func DecodeStatus(value []byte) Status {
	var st Status
	if n, err := strconv.ParseUint(strings.TrimSpace(string(value)), 10, 64); err == nil {
		st.Optime = n
		return st
	}
	var raw map[string]json.RawMessage
	if json.Unmarshal(value, &raw) != nil {
		return st
	}
	if n, ok := jsonUint(raw["optime"]); ok {
		st.Optime = n
	}
	var slots map[string]json.RawMessage
	if json.Unmarshal(raw["slots"], &slots) == nil {
		st.Slots = map[string]uint64{}
		for k, v := range slots {
			if n, ok := jsonUint(v); ok {
				st.Slots[k] = n
			}
		}
	}
	_ = json.Unmarshal(raw["retain_slots"], &st.RetainSlots)
	return st
}

// EncodeHistory renders the history list [[tl, lsn, reason, ts, leader], ...].
func EncodeHistory(h []HistoryEntry) []byte {
	rows := make([][]any, 0, len(h))
	for _, e := range h {
		row := []any{e.Timeline, e.LSN, e.Reason}
		if e.Timestamp != "" || e.NewLeader != "" {
			row = append(row, e.Timestamp)
		}
		if e.NewLeader != "" {
			row = append(row, e.NewLeader)
		}
		rows = append(rows, row)
	}
	b, _ := json.Marshal(rows)
	return b
}

// DecodeHistory parses the history key; rows that do not parse are skipped.
func DecodeHistory(value []byte) []HistoryEntry {
	var rows [][]json.RawMessage
	if json.Unmarshal(value, &rows) != nil {
		return []HistoryEntry{}
	}
	out := make([]HistoryEntry, 0, len(rows))
	for _, r := range rows {
		if len(r) < 2 {
			continue
		}
		tl, ok1 := jsonUint(r[0])
		lsn, ok2 := jsonUint(r[1])
		if !ok1 || !ok2 || tl > 1<<31 {
			continue
		}
		e := HistoryEntry{Timeline: int(tl), LSN: lsn}
		if len(r) > 2 {
			_ = json.Unmarshal(r[2], &e.Reason)
		}
		if len(r) > 3 {
			_ = json.Unmarshal(r[3], &e.Timestamp)
		}
		if len(r) > 4 {
			_ = json.Unmarshal(r[4], &e.NewLeader)
		}
		out = append(out, e)
	}
	return out
}

// EncodeFailover renders the failover key; an empty request is "{}".
func EncodeFailover(f *Failover) []byte {
	v := map[string]string{}
	if f != nil {
		if f.Leader != "" {
			v["leader"] = f.Leader
		}
		if f.Candidate != "" {
			v["member"] = f.Candidate
		}
		if f.ScheduledAt != "" {
			v["scheduled_at"] = f.ScheduledAt
		}
	}
	b, _ := json.Marshal(v)
	return b
}

// DecodeFailover parses the failover key, including the legacy "leader:candidate" form.
func DecodeFailover(value []byte) *Failover {
	var raw map[string]any
	if json.Unmarshal(value, &raw) != nil {
		s := string(value)
		if i := strings.Index(s, ":"); i >= 0 && !strings.ContainsAny(s, "{}") {
			return &Failover{Leader: s[:i], Candidate: s[i+1:]}
		}
		return &Failover{}
	}
	f := &Failover{}
	f.Leader, _ = raw["leader"].(string)
	f.Candidate, _ = raw["member"].(string)
	f.ScheduledAt, _ = raw["scheduled_at"].(string)
	return f
}

// EncodeSync renders /sync: {"leader":"a","sync_standby":"b,c"|null}.
func EncodeSync(s SyncState) []byte {
	v := map[string]any{"leader": s.Leader, "sync_standby": nil}
	if len(s.SyncStandby) > 0 {
		names := append([]string(nil), s.SyncStandby...)
		sort.Strings(names)
		v["sync_standby"] = strings.Join(names, ",")
	}
	if s.Quorum != nil {
		v["quorum"] = *s.Quorum
	}
	b, _ := json.Marshal(v)
	return b
}

// DecodeSync parses /sync.
func DecodeSync(value []byte) *SyncState {
	var raw map[string]any
	if json.Unmarshal(value, &raw) != nil {
		return &SyncState{}
	}
	s := &SyncState{}
	s.Leader, _ = raw["leader"].(string)
	if names, ok := raw["sync_standby"].(string); ok && names != "" {
		s.SyncStandby = strings.Split(names, ",")
	}
	if q, ok := raw["quorum"].(float64); ok {
		n := int(q)
		s.Quorum = &n
	}
	return s
}

// EncodeConfig renders the dynamic configuration compactly.
func EncodeConfig(cfg map[string]any) []byte {
	b, _ := json.Marshal(cfg)
	return b
}

// DecodeConfig parses the config key; garbage yields nil, false.
func DecodeConfig(value []byte) (map[string]any, bool) {
	var cfg map[string]any
	if json.Unmarshal(value, &cfg) != nil || cfg == nil {
		return nil, false
	}
	return cfg, true
}
