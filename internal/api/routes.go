package api

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/warden-ha/warden/internal/cluster"
)

// serveHTTP routes as Patroni does: the first path segment selects a GET handler; every
// other GET, HEAD or OPTIONS is a health check; other methods are not implemented yet.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		s.serveUnsafe(w, r)
		return
	default:
		writeText(w, http.StatusNotImplemented, fmt.Sprintf("Unsupported method (%q)\n", r.Method))
		return
	}
	if r.Method == http.MethodGet {
		segment, _, _ := strings.Cut(strings.TrimLeft(r.URL.Path, "/"), "/")
		switch segment {
		case "patroni":
			s.getPatroni(w)
			return
		case "cluster":
			s.getCluster(w, r)
			return
		case "history":
			s.getHistory(w, r)
			return
		case "config":
			s.getConfig(w, r)
			return
		case "failsafe":
			s.getFailsafe(w, r)
			return
		case "liveness":
			s.getLiveness(w)
			return
		case "readiness":
			s.getReadiness(w, r)
			return
		case "metrics":
			s.metrics.ServeHTTP(w, r)
			return
		}
	}
	s.health(w, r)
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	v, err := s.currentView()
	if err != nil {
		writeText(w, http.StatusServiceUnavailable, err.Error()+"\n")
		return
	}
	code := healthCode(v, r.URL.Path, r.URL.Query(), s.now())
	if r.Method != http.MethodGet {
		// HAProxy reads only the status line.
		w.WriteHeader(code)
		return
	}
	writeJSONBytes(w, code, v.body)
}

func (s *Server) getPatroni(w http.ResponseWriter) {
	v, err := s.currentView()
	if err != nil {
		writeText(w, http.StatusServiceUnavailable, err.Error()+"\n")
		return
	}
	writeJSONBytes(w, http.StatusOK, v.body)
}

// getLiveness: the HA loop is alive if its next run is not overdue by more than ttl
// (primary) or 2*ttl (replica: a stuck replica agent harms nobody for a while).
func (s *Server) getLiveness(w http.ResponseWriter) {
	st := s.src.Status()
	code := http.StatusServiceUnavailable
	if st != nil {
		threshold := 2 * st.TTL
		if st.Role.IsPrimary() && st.State == "running" {
			threshold = st.TTL
		}
		if st.Pause || st.NextLoop.Add(threshold).After(s.now()) {
			code = http.StatusOK
		}
	}
	w.WriteHeader(code)
}

// getReadiness: the lock holder is ready; otherwise, without ?lag= or ?mode=, a running
// PostgreSQL with a DCS view (Patroni 3.0.2), and with either, Patroni 4.1's replica
// check: running, streaming, and its replayed (mode=write: received) position within lag
// (default maximum_lag_on_failover) of the leader's last published position.
func (s *Server) getReadiness(w http.ResponseWriter, r *http.Request) {
	st := s.src.Status()
	code := http.StatusServiceUnavailable
	if st != nil && (s.now().Before(st.LockValidUntil) || replicaReady(st, r.URL.Query())) {
		code = http.StatusOK
	}
	w.WriteHeader(code)
}

func replicaReady(st *Status, q url.Values) bool {
	_, lagGiven := q["lag"]
	_, modeGiven := q["mode"]
	if !lagGiven && !modeGiven {
		return st.State == "running" && st.DCSAvailable
	}
	if st.State != "running" || st.ReplicationState != "streaming" {
		return false
	}
	if !st.DCSAvailable {
		return st.FailsafeActive
	}
	pos := st.ReplayedLocation
	if q.Get("mode") == "write" {
		pos = st.ReceivedLocation
	}
	limit := int64(min(st.MaximumLagOnFailover, math.MaxInt64))
	if v, ok := parseLag(q.Get("lag")); ok {
		limit = v
	}
	var lag int64
	if st.LeaderOptime > pos {
		lag = int64(min(st.LeaderOptime-pos, math.MaxInt64))
	}
	return lag <= limit
}

// readCluster does the one bounded DCS read behind the monitoring endpoints; on failure
// it has answered 503 with the reason.
func (s *Server) readCluster(w http.ResponseWriter, r *http.Request) (*cluster.Cluster, bool) {
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.DCSTimeout)
	defer cancel()
	c, err := s.src.Cluster(ctx)
	if err == nil && c == nil {
		err = fmt.Errorf("empty cluster view")
	}
	if err != nil {
		s.log.Warn("REST API could not read the DCS", "path", r.URL.Path, "err", err)
		writeText(w, http.StatusServiceUnavailable, fmt.Sprintf("DCS is not accessible: %v\n", err))
		return nil, false
	}
	return c, true
}

type clusterJSON struct {
	Members             []memberJSON             `json:"members"`
	Pause               bool                     `json:"pause,omitempty"`
	ScheduledSwitchover *scheduledSwitchoverJSON `json:"scheduled_switchover,omitempty"`
	Scope               string                   `json:"scope,omitempty"`
}

type scheduledSwitchoverJSON struct {
	At   string `json:"at"`
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

type memberJSON struct {
	Name           string `json:"name"`
	Role           string `json:"role"`
	State          string `json:"state"`
	APIURL         string `json:"api_url"`
	Host           string `json:"host,omitempty"`
	Port           int    `json:"port,omitempty"`
	Timeline       int    `json:"timeline,omitempty"`
	PendingRestart bool   `json:"pending_restart,omitempty"`
	// PendingRestartReason as Patroni 4 lists it per member.
	PendingRestartReason map[string]cluster.ParamChange `json:"pending_restart_reason,omitempty"`
	ScheduledRestart     map[string]any                 `json:"scheduled_restart,omitempty"`
	Tags                 map[string]any                 `json:"tags,omitempty"`
	Lag                  any                            `json:"lag,omitempty"`
}

func (s *Server) getCluster(w http.ResponseWriter, r *http.Request) {
	c, ok := s.readCluster(w, r)
	if !ok {
		return
	}
	scope, dialect := "", cluster.Dialect(0)
	if st := s.src.Status(); st != nil {
		scope, dialect = st.Scope, st.Dialect
	}
	writeJSON(w, http.StatusOK, clusterAsJSON(c, scope, dialect))
}

// clusterAsJSON follows Patroni 3.0.2's cluster_as_json: a member named in /sync is a
// sync_standby even when synchronous_mode is off. In Patroni 4's words a member other
// than the leader shows its replication_state (streaming) as its state when it has one.
func clusterAsJSON(c *cluster.Cluster, scope string, d cluster.Dialect) clusterJSON {
	leader := c.LeaderName()
	standby := false
	if sc, ok := c.Config["standby_cluster"].(map[string]any); ok && len(sc) > 0 {
		standby = true
	}
	sync := map[string]bool{}
	if c.Sync != nil {
		for _, n := range c.Sync.SyncStandby {
			sync[n] = true
		}
	}
	members := append([]cluster.Member(nil), c.Members...)
	sort.Slice(members, func(i, j int) bool { return members[i].Name < members[j].Name })
	out := clusterJSON{Members: make([]memberJSON, 0, len(members)), Scope: scope}
	out.Pause = cluster.Truthy(c.Config["pause"])
	if f := c.Failover; !f.Empty() && f.ScheduledAt != "" {
		out.ScheduledSwitchover = &scheduledSwitchoverJSON{At: f.ScheduledAt, From: f.Leader, To: f.Candidate}
	}
	for _, m := range members {
		mj := memberJSON{Name: m.Name, Role: "replica", State: m.State, APIURL: m.APIURL,
			Timeline: m.Timeline, PendingRestart: m.PendingRestart, PendingRestartReason: m.PendingRestartReason,
			ScheduledRestart: m.ScheduledRestart, Tags: m.Tags}
		switch {
		case m.Name == leader && standby:
			mj.Role = "standby_leader"
		case m.Name == leader:
			mj.Role = "leader"
		case sync[m.Name]:
			mj.Role = c.SyncRole()
		}
		if d.Major() == cluster.Patroni4 && mj.Role != "leader" && m.ReplicationState != "" {
			mj.State = m.ReplicationState
		}
		if host, port := m.HostPort(); host != "" {
			mj.Host, mj.Port = host, port
		}
		if len(mj.Tags) == 0 {
			mj.Tags = nil
		}
		if m.Name != leader {
			switch {
			case m.XLogLocation == nil:
				mj.Lag = "unknown"
			case c.Status.Optime >= *m.XLogLocation:
				mj.Lag = c.Status.Optime - *m.XLogLocation
			default:
				mj.Lag = uint64(0)
			}
		}
		out.Members = append(out.Members, mj)
	}
	return out
}

func (s *Server) getHistory(w http.ResponseWriter, r *http.Request) {
	c, ok := s.readCluster(w, r)
	if !ok {
		return
	}
	writeJSONBytes(w, http.StatusOK, cluster.EncodeHistory(c.History))
}

func (s *Server) getConfig(w http.ResponseWriter, r *http.Request) {
	c, ok := s.readCluster(w, r)
	if !ok {
		return
	}
	if c.Config == nil {
		writeText(w, http.StatusBadGateway, "no configuration in the DCS\n")
		return
	}
	writeJSONBytes(w, http.StatusOK, cluster.EncodeConfig(c.Config))
}

func (s *Server) getFailsafe(w http.ResponseWriter, r *http.Request) {
	c, ok := s.readCluster(w, r)
	if !ok {
		return
	}
	if c.Failsafe == nil {
		writeText(w, http.StatusBadGateway, "failsafe mode is not in use\n")
		return
	}
	writeJSON(w, http.StatusOK, c.Failsafe)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeText(w, http.StatusInternalServerError, fmt.Sprintf("encode response: %v\n", err))
		return
	}
	writeJSONBytes(w, code, b)
}

func writeJSONBytes(w http.ResponseWriter, code int, b []byte) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

func writeText(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg))
}
