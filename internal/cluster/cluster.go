// Package cluster holds the plain data Warden shares through the DCS: members, the
// leader lock, the cluster-wide status and history. The JSON codecs are byte-compatible
// with Patroni's etcd3 values so that patronictl and vip-manager can read a Warden cluster.
package cluster

import (
	"net/url"
	"strconv"
	"strings"
)

// Role is the PostgreSQL role of a node as Patroni names it.
type Role string

const (
	RolePrimary       Role = "primary"
	RoleReplica       Role = "replica"
	RoleStandbyLeader Role = "standby_leader"
	RoleDemoted       Role = "demoted"
	RoleUninitialized Role = "uninitialized"
	RolePromoted      Role = "promoted"
)

// IsPrimary accepts Patroni 3's "master" as well as "primary".
func (r Role) IsPrimary() bool { return r == RolePrimary || r == "master" }

// Member is one node as published under members/<name>.
type Member struct {
	Name    string
	ConnURL string
	APIURL  string
	State   string
	Role    Role
	// RoleWritten is the role word as the key holds it (master or primary for a
	// primary, whose Role is RolePrimary either way).
	RoleWritten      string
	Version          string
	XLogLocation     *uint64
	Timeline         int
	ReplicationState string
	Tags             map[string]any
	PendingRestart   bool
	// PendingRestartReason names each parameter waiting for a restart (Patroni 3.3+).
	PendingRestartReason map[string]ParamChange
	ScheduledRestart     map[string]any
	// CheckpointAfterPromote is false only on a freshly promoted leader whose
	// post-promote CHECKPOINT has not finished; nil means absent (done).
	CheckpointAfterPromote *bool
	Pause                  bool
	Revision               int64
}

// ParamChange is a parameter's value in force and the one a restart would apply.
type ParamChange struct {
	OldValue string `json:"old_value"`
	NewValue string `json:"new_value"`
}

// NoFailover reports whether the member's tags forbid it from becoming leader.
func (m Member) NoFailover() bool { return TagsNoFailover(m.Tags) }

// FailoverPriority is the member's failover_priority tag (default 1, 0 when nofailover).
func (m Member) FailoverPriority() int { return TagsFailoverPriority(m.Tags) }

// WAL is the position used in leader races: xlog_location, or 0 when unknown.
func (m Member) WAL() uint64 {
	if m.XLogLocation == nil {
		return 0
	}
	return *m.XLogLocation
}

// Host and Port come from conn_url.
func (m Member) HostPort() (string, int) {
	u, err := url.Parse(m.ConnURL)
	if err != nil || u.Host == "" {
		return "", 0
	}
	p, _ := strconv.Atoi(u.Port())
	if p == 0 {
		p = 5432
	}
	return u.Hostname(), p
}

// Leader is the leader key: the bare member name, on the holder's lease.
type Leader struct {
	Name string
	// Revision is the key's mod revision; CreateRevision is the fencing token.
	Revision       int64
	CreateRevision int64
	Lease          int64
}

// Status is the /status key the leader writes after each successful refresh.
type Status struct {
	Optime      uint64
	Slots       map[string]uint64
	RetainSlots []string
}

// Failover is a pending manual switchover/failover request.
type Failover struct {
	Leader      string
	Candidate   string
	ScheduledAt string
	Revision    int64
}

// Empty reports whether the key means "no failover".
func (f *Failover) Empty() bool { return f == nil || (f.Leader == "" && f.Candidate == "") }

// SyncState is the /sync key.
type SyncState struct {
	Leader      string
	SyncStandby []string
	Quorum      *int
	Revision    int64
}

// SyncRole is the role of a member named in /sync: quorum_standby when the dynamic
// configuration says synchronous_mode: quorum (Patroni 4), sync_standby otherwise.
func (c *Cluster) SyncRole() string {
	if s, ok := c.Config["synchronous_mode"].(string); ok && s == "quorum" {
		return "quorum_standby"
	}
	return "sync_standby"
}

// HistoryEntry is one line of the history key: a promotion.
type HistoryEntry struct {
	Timeline  int
	LSN       uint64
	Reason    string
	Timestamp string
	NewLeader string
}

// Cluster is one consistent snapshot of the cluster prefix.
type Cluster struct {
	// Initialize is nil when the key is absent, "" while a bootstrap is in progress,
	// and the system identifier afterwards.
	Initialize *string
	// Config is the raw dynamic configuration JSON object; nil when absent.
	Config         map[string]any
	ConfigRevision int64
	Leader         *Leader
	Members        []Member
	Status         Status
	Failover       *Failover
	Sync           *SyncState
	// History is nil when the key is absent (timeline unknown).
	History    []HistoryEntry
	HasHistory bool
	Failsafe   map[string]string
	// Revision is the store revision the snapshot was read at.
	Revision int64
}

// Member returns the named member.
func (c *Cluster) Member(name string) (Member, bool) {
	if c == nil {
		return Member{}, false
	}
	for _, m := range c.Members {
		if m.Name == name {
			return m, true
		}
	}
	return Member{}, false
}

// Locked reports whether somebody holds the leader key.
func (c *Cluster) Locked() bool { return c != nil && c.Leader != nil && c.Leader.Name != "" }

// LeaderName is the lock holder's name or "".
func (c *Cluster) LeaderName() string {
	if !c.Locked() {
		return ""
	}
	return c.Leader.Name
}

// LeaderMember is the lock holder's member record (a stub when its member key is gone).
func (c *Cluster) LeaderMember() (Member, bool) {
	if !c.Locked() {
		return Member{}, false
	}
	if m, ok := c.Member(c.Leader.Name); ok {
		return m, true
	}
	return Member{Name: c.Leader.Name}, true
}

// Timeline is the cluster timeline: history[-1].timeline + 1, 1 for "[]", 0 if unknown.
func (c *Cluster) Timeline() int {
	if c == nil || !c.HasHistory {
		return 0
	}
	if len(c.History) == 0 {
		return 1
	}
	return c.History[len(c.History)-1].Timeline + 1
}

// InitializedSysID returns the system identifier from the initialize key when it is valid.
func (c *Cluster) InitializedSysID() (string, bool) {
	if c == nil || c.Initialize == nil {
		return "", false
	}
	return *c.Initialize, ValidSysID(*c.Initialize)
}

// ValidSysID follows Patroni: at least 10 digits.
func ValidSysID(s string) bool {
	if len(s) < 10 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// TagsNoFailover interprets nofailover / failover_priority as Patroni 3.2+ does.
func TagsNoFailover(tags map[string]any) bool {
	return boolTag(tags, "nofailover", "failover_priority")
}

// TagsFailoverPriority returns failover_priority (default 1; 0 when nofailover).
func TagsFailoverPriority(tags map[string]any) int {
	return priorityTag(tags, "nofailover", "failover_priority")
}

// TagsNoSync interprets nosync / sync_priority as Patroni 4.1 does.
func TagsNoSync(tags map[string]any) bool { return boolTag(tags, "nosync", "sync_priority") }

// TagsSyncPriority returns sync_priority (Patroni 4.1; default 1, 0 when nosync).
func TagsSyncPriority(tags map[string]any) int { return priorityTag(tags, "nosync", "sync_priority") }

// boolTag: the boolean tag when set, else whether the priority tag is set and not positive.
func boolTag(tags map[string]any, boolName, priorityName string) bool {
	if v, ok := tags[boolName]; ok {
		return Truthy(v)
	}
	if _, ok := tags[priorityName]; ok {
		return priorityTag(tags, boolName, priorityName) <= 0
	}
	return false
}

// priorityTag: 0 when the boolean tag is true, else the priority tag (default 1).
func priorityTag(tags map[string]any, boolName, priorityName string) int {
	if v, ok := tags[boolName]; ok && Truthy(v) {
		return 0
	}
	switch v := tags[priorityName].(type) {
	case int:
		return v
	case int64:
		return int(v)
	case float64:
		return int(v)
	case string:
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return 1
}

// Truthy parses Patroni's boolean spellings.
func Truthy(v any) bool {
	switch t := v.(type) {
	case bool:
		return t
	case int:
		return t != 0
	case float64:
		return t != 0
	case string:
		switch strings.ToLower(strings.TrimSpace(t)) {
		case "on", "true", "yes", "1", "y", "t":
			return true
		}
	}
	return false
}

// PublishedTags are the tags a member publishes: Patroni leaves out the boolean built-in
// tags (clonefrom, nofailover, noloadbalance, nosync, nostream) when false; nofailover
// stays when failover_priority is set, and nosync when sync_priority is (Patroni 4.1), as
// it then decides between the two.
func PublishedTags(tags map[string]any) map[string]any {
	out := make(map[string]any, len(tags))
	for k, v := range tags {
		switch k {
		case "clonefrom", "noloadbalance", "nostream":
			if !Truthy(v) {
				continue
			}
		case "nofailover", "nosync":
			priority := map[string]string{"nofailover": "failover_priority", "nosync": "sync_priority"}[k]
			if _, prio := tags[priority]; !prio && !Truthy(v) {
				continue
			}
		}
		out[k] = v
	}
	return out
}
