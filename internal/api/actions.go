package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/config"
)

// maxBody bounds request bodies: every Patroni request is a small JSON object.
const maxBody = 64 << 10

// serveUnsafe routes POST, PUT, PATCH and DELETE, after authentication.
func (s *Server) serveUnsafe(w http.ResponseWriter, r *http.Request) {
	segment, _, _ := strings.Cut(strings.TrimLeft(r.URL.Path, "/"), "/")
	type route struct{ method, segment string }
	handlers := map[route]func(http.ResponseWriter, *http.Request){
		{http.MethodPost, "switchover"}:   func(w http.ResponseWriter, r *http.Request) { s.postFailover(w, r, "switchover") },
		{http.MethodPost, "failover"}:     func(w http.ResponseWriter, r *http.Request) { s.postFailover(w, r, "failover") },
		{http.MethodDelete, "switchover"}: s.deleteSwitchover,
		{http.MethodPost, "restart"}:      s.postRestart,
		{http.MethodDelete, "restart"}:    s.deleteRestart,
		{http.MethodPost, "reload"}:       s.postReload,
		{http.MethodPost, "reinitialize"}: s.postReinitialize,
		{http.MethodPatch, "config"}:      s.patchConfig,
		{http.MethodPut, "config"}:        s.putConfig,
		{http.MethodPost, "failsafe"}:     s.postFailsafe,
	}
	h, ok := handlers[route{r.Method, segment}]
	if !ok || s.opts.Controller == nil {
		writeText(w, http.StatusNotImplemented, fmt.Sprintf("Unsupported method (%q)\n", r.Method))
		return
	}
	if !s.accessAllowed(w, r, segment != "failsafe") {
		return
	}
	h(w, r)
}

// authorized applies restapi.authentication to unsafe requests (constant-time compare).
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	if s.opts.Username == "" {
		return true
	}
	user, pass, ok := r.BasicAuth()
	w.Header().Set("WWW-Authenticate", `Basic realm="Patroni"`)
	if _, present := r.Header["Authorization"]; !present {
		writeText(w, http.StatusUnauthorized, "no auth header received\n")
		return false
	}
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(s.opts.Username)) == 1
	passOK := subtle.ConstantTimeCompare([]byte(pass), []byte(s.opts.Password)) == 1
	if !ok || !userOK || !passOK {
		writeText(w, http.StatusUnauthorized, "not authenticated\n")
		return false
	}
	w.Header().Del("WWW-Authenticate")
	return true
}

// readBody decodes an optional (or, with required, mandatory) JSON object.
func readBody(w http.ResponseWriter, r *http.Request, required bool) (map[string]any, bool) {
	if required && r.ContentLength < 0 && r.Header.Get("Transfer-Encoding") == "" {
		writeText(w, http.StatusLengthRequired, "Content-Length required\n")
		return nil, false
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeText(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes\n", maxBody))
		} else {
			writeText(w, http.StatusBadRequest, fmt.Sprintf("could not read the request body: %v\n", err))
		}
		return nil, false
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		if required {
			writeText(w, http.StatusBadRequest, "a JSON object is required\n")
			return nil, false
		}
		return map[string]any{}, true
	}
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil || body == nil {
		writeText(w, http.StatusBadRequest, "the request body must be a JSON object\n")
		return nil, false
	}
	return body, true
}

func stringField(body map[string]any, keys ...string) (string, error) {
	for _, k := range keys {
		v, ok := body[k]
		if !ok || v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("%s must be a string", k)
		}
		if s != "" {
			return s, nil
		}
	}
	return "", nil
}

// parseSchedule parses an ISO 8601 timestamp that must carry a timezone and lie ahead.
func parseSchedule(raw, action string, now time.Time) (time.Time, int, string) {
	t, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04"} {
			if _, e := time.Parse(layout, raw); e == nil {
				return time.Time{}, http.StatusBadRequest, fmt.Sprintf("Timezone information is mandatory for the scheduled %s", action)
			}
		}
		return time.Time{}, http.StatusUnprocessableEntity, "Unable to parse scheduled timestamp. It should be in an unambiguous format, e.g. ISO 8601"
	}
	if t.Before(now) {
		return time.Time{}, http.StatusUnprocessableEntity, fmt.Sprintf("Cannot schedule %s in the past", action)
	}
	return t, 0, ""
}

func (s *Server) postFailover(w http.ResponseWriter, r *http.Request, action string) {
	body, ok := readBody(w, r, true)
	if !ok {
		return
	}
	leader, err := stringField(body, "leader")
	candidate, err2 := stringField(body, "candidate", "member")
	scheduled, err3 := stringField(body, "scheduled_at")
	if err := errors.Join(err, err2, err3); err != nil {
		writeText(w, http.StatusBadRequest, err.Error()+"\n")
		return
	}
	title := strings.ToUpper(action[:1]) + action[1:]
	switch {
	case action == "failover" && candidate == "":
		writeText(w, http.StatusBadRequest, "Failover could be performed only to a specific candidate\n")
		return
	case action == "switchover" && leader == "":
		writeText(w, http.StatusBadRequest, "Switchover could be performed only from a specific leader\n")
		return
	case leader != "" && leader == candidate:
		writeText(w, http.StatusBadRequest, "Switchover target and source are the same\n")
		return
	}
	st := s.src.Status()
	var at time.Time
	if scheduled != "" {
		if leader == "" {
			writeText(w, http.StatusBadRequest, fmt.Sprintf("Scheduled %s is possible only from a specific leader\n", action))
			return
		}
		if st.Pause {
			writeText(w, http.StatusBadRequest, fmt.Sprintf("Can't schedule %s in the paused state\n", action))
			return
		}
		var code int
		var msg string
		if at, code, msg = parseSchedule(scheduled, action, s.now()); code != 0 {
			writeText(w, code, msg+"\n")
			return
		}
	}
	if st.Pause && candidate == "" {
		writeText(w, http.StatusBadRequest, fmt.Sprintf("%s is possible only to a specific candidate in a paused state\n", title))
		return
	}
	cl, ok := s.readCluster(w, r)
	if !ok {
		return
	}
	if scheduled == "" {
		if code, msg := s.feasible(r.Context(), cl, action, leader, candidate); code != 0 {
			writeText(w, code, msg+"\n")
			return
		}
	}
	f := &cluster.Failover{Leader: leader, Candidate: candidate}
	if !at.IsZero() {
		f.ScheduledAt = at.Format(time.RFC3339)
	}
	rev := int64(-1)
	if cl.Failover != nil && cl.Failover.Revision > 0 {
		rev = cl.Failover.Revision
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.DCSTimeout)
	written, err := s.opts.Controller.SetFailover(ctx, cluster.EncodeFailover(f), rev)
	cancel()
	if err != nil || !written {
		writeText(w, http.StatusServiceUnavailable, "failed to write failover key into DCS\n")
		return
	}
	if !at.IsZero() {
		writeText(w, http.StatusAccepted, title+" scheduled\n")
		return
	}
	code, msg := s.awaitLeaderChange(r.Context(), cl.LeaderName(), candidate, action)
	writeText(w, code, msg+"\n")
}

// feasible is Patroni's pre-check of a switchover or failover (412 with a reason).
func (s *Server) feasible(ctx context.Context, cl *cluster.Cluster, action, leader, candidate string) (int, string) {
	if leader != "" && leader != cl.LeaderName() {
		return http.StatusPreconditionFailed, "leader name does not match"
	}
	if candidate != "" {
		if _, ok := cl.Member(candidate); !ok {
			return http.StatusPreconditionFailed, "candidate does not exists"
		}
	}
	if action == "switchover" && candidate != "" && cluster.Truthy(cl.Config["synchronous_mode"]) &&
		(cl.Sync == nil || !slices.Contains(cl.Sync.SyncStandby, candidate)) {
		return http.StatusPreconditionFailed, "candidate name does not match with sync_standby"
	}
	var names []string
	for _, m := range cl.Members {
		if m.Name != cl.LeaderName() && (candidate == "" || m.Name == candidate) {
			names = append(names, m.Name)
		}
	}
	if len(names) == 0 {
		return http.StatusPreconditionFailed, action + " is not possible: cluster does not have members except leader"
	}
	for _, name := range names {
		m, _ := cl.Member(name)
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ps, err := s.opts.Controller.PeerStatus(pctx, m.APIURL)
		cancel()
		// The same test the leader applies before demoting: a running replica with a WAL
		// position, allowed to fail over.
		if err == nil && ps.HasWAL && ps.InRecovery && !ps.NoFailover && !ps.WatchdogFailed {
			return 0, ""
		}
	}
	return http.StatusPreconditionFailed, action + " is not possible: no good candidates have been found"
}

// awaitLeaderChange polls the DCS until the leader changes, the request is dropped, or
// 2*max(10s, loop_wait) pass (Patroni's bound).
func (s *Server) awaitLeaderChange(ctx context.Context, old, candidate, action string) (int, string) {
	deadline := time.Now().Add(2 * max(10*time.Second, s.opts.Controller.LoopWait()))
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	verb := "switched over"
	if action == "failover" {
		verb = "failed over"
	}
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return http.StatusServiceUnavailable, fmt.Sprintf("%s status unknown", strings.ToUpper(action[:1])+action[1:])
		case <-tick.C:
		}
		rctx, cancel := context.WithTimeout(ctx, s.opts.DCSTimeout)
		cl, err := s.src.Cluster(rctx)
		cancel()
		if err != nil {
			continue
		}
		if now := cl.LeaderName(); now != "" && now != old {
			if candidate == "" || now == candidate {
				return http.StatusOK, fmt.Sprintf("Successfully %s to %q", verb, now)
			}
			return http.StatusOK, fmt.Sprintf("%s to %q instead of %q", strings.ToUpper(verb[:1])+verb[1:], now, candidate)
		}
		if cl.Failover.Empty() && cl.LeaderName() == old {
			return http.StatusServiceUnavailable, strings.ToUpper(action[:1]) + action[1:] + " failed"
		}
	}
	return http.StatusServiceUnavailable, strings.ToUpper(action[:1]) + action[1:] + " status unknown"
}

func (s *Server) deleteSwitchover(w http.ResponseWriter, r *http.Request) {
	cl, ok := s.readCluster(w, r)
	if !ok {
		return
	}
	if cl.Failover.Empty() || cl.Failover.ScheduledAt == "" {
		writeText(w, http.StatusNotFound, "no switchover is scheduled\n")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.DCSTimeout)
	defer cancel()
	written, err := s.opts.Controller.SetFailover(ctx, []byte("{}"), cl.Failover.Revision)
	if err != nil {
		writeText(w, http.StatusServiceUnavailable, fmt.Sprintf("DCS is not accessible: %v\n", err))
		return
	}
	if !written {
		writeText(w, http.StatusConflict, "the failover key changed meanwhile; read it again\n")
		return
	}
	writeText(w, http.StatusOK, "scheduled switchover deleted\n")
}

func (s *Server) postRestart(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, false)
	if !ok {
		return
	}
	var cond RestartConditions
	var schedule string
	for k, v := range body {
		switch k {
		case "role":
			role, _ := v.(string)
			switch role {
			case "primary", "master", "replica":
				cond.Role = role
			default:
				writeText(w, http.StatusBadRequest, "PostgreSQL role should be either primary or replica\n")
				return
			}
		case "postgres_version":
			ver, _ := v.(string)
			if !validVersion(ver) {
				writeText(w, http.StatusBadRequest, fmt.Sprintf("PostgreSQL version should be in the first.major.minor format: %v\n", v))
				return
			}
			cond.PostgresVersion = ver
		case "restart_pending":
			b, ok := v.(bool)
			if !ok {
				writeText(w, http.StatusBadRequest, "restart_pending must be true or false\n")
				return
			}
			cond.RestartPending = b
		case "timeout":
			if !positiveSeconds(v) {
				writeText(w, http.StatusBadRequest, "Timeout should be a positive number of seconds\n")
				return
			}
		case "schedule":
			schedule, _ = v.(string)
		default:
			writeText(w, http.StatusBadRequest, fmt.Sprintf("Unknown filter for the scheduled restart: %s\n", k))
			return
		}
	}
	if schedule != "" {
		if s.src.Status().Pause {
			writeText(w, http.StatusInternalServerError, "Can't schedule restart in the paused state\n")
			return
		}
		at, code, msg := parseSchedule(schedule, "restart", s.now())
		if code != 0 {
			writeText(w, code, msg+"\n")
			return
		}
		if !s.opts.Controller.ScheduleRestart(at, cond) {
			writeText(w, http.StatusConflict, "Another restart is already scheduled\n")
			return
		}
		writeText(w, http.StatusAccepted, "Restart scheduled\n")
		return
	}
	res := s.opts.Controller.Restart(r.Context(), cond)
	writeText(w, res.Code, res.Message+"\n")
}

func validVersion(v string) bool {
	parts := strings.Split(v, ".")
	if v == "" || len(parts) > 3 {
		return false
	}
	for _, p := range parts {
		if n, err := strconv.Atoi(p); err != nil || n < 0 {
			return false
		}
	}
	return true
}

func positiveSeconds(v any) bool {
	switch t := v.(type) {
	case float64:
		return t > 0
	case string:
		d, err := time.ParseDuration(t)
		if err != nil {
			n, err := strconv.Atoi(t)
			return err == nil && n > 0
		}
		return d > 0
	}
	return false
}

func (s *Server) deleteRestart(w http.ResponseWriter, _ *http.Request) {
	if !s.opts.Controller.CancelScheduledRestart() {
		writeText(w, http.StatusNotFound, "no restarts are scheduled\n")
		return
	}
	writeText(w, http.StatusOK, "scheduled restart deleted\n")
}

func (s *Server) postReload(w http.ResponseWriter, r *http.Request) {
	res := s.opts.Controller.Reload(r.Context())
	writeText(w, res.Code, res.Message+"\n")
}

// postFailsafe is a primary that cannot reach the DCS asking this member to confirm it.
// The answer text is compared verbatim ("Accepted") by Patroni and Warden senders.
func (s *Server) postFailsafe(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, true)
	if !ok {
		return
	}
	name, err := stringField(body, "name")
	if err == nil && name == "" {
		err = errors.New("name is required")
	}
	if err != nil {
		writeText(w, http.StatusBadRequest, err.Error()+"\n")
		return
	}
	res := s.opts.Controller.AcceptFailsafe(r.Context(), name)
	if st := s.src.Status(); res.Code == http.StatusOK && st != nil && st.PostgresReachable {
		// Patroni 4.0: the member's WAL position, which a Patroni primary uses to move
		// the slots of cascading replicas forward while the DCS is out of reach.
		w.Header().Set("lsn", strconv.FormatUint(max(st.ReceivedLocation, st.ReplayedLocation, st.XLogLocation), 10))
	}
	writeText(w, res.Code, res.Message)
}

func (s *Server) postReinitialize(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, false)
	if !ok {
		return
	}
	force := false
	if v, present := body["force"]; present {
		b, isBool := v.(bool)
		if !isBool {
			writeText(w, http.StatusBadRequest, "force must be true or false\n")
			return
		}
		force = b
	}
	res := s.opts.Controller.Reinitialize(r.Context(), force)
	writeText(w, res.Code, res.Message+"\n")
}

// patchConfig merges the body into the DCS config (null deletes a key) and writes it with
// CAS. Timings that break ttl >= loop_wait + 2*retry_timeout are stored as written, as
// Patroni does; every agent runs with adjusted values, named in a Warning header.
func (s *Server) patchConfig(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, true)
	if !ok {
		return
	}
	cl, ok := s.readCluster(w, r)
	if !ok {
		return
	}
	if cl.Config == nil {
		writeText(w, http.StatusServiceUnavailable, "the cluster has no configuration in the DCS yet\n")
		return
	}
	merged := mergePatch(cloneMap(cl.Config), body)
	if !s.validDynamic(w, merged) {
		return
	}
	if reflect.DeepEqual(merged, cl.Config) {
		writeJSON(w, http.StatusOK, merged)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.DCSTimeout)
	defer cancel()
	written, err := s.opts.Controller.SetConfig(ctx, cluster.EncodeConfig(merged), cl.ConfigRevision)
	if err != nil {
		writeText(w, http.StatusServiceUnavailable, fmt.Sprintf("DCS is not accessible: %v\n", err))
		return
	}
	if !written {
		writeText(w, http.StatusConflict, "the configuration changed meanwhile; read it again and retry\n")
		return
	}
	writeJSON(w, http.StatusOK, merged)
}

func (s *Server) putConfig(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, true)
	if !ok || !s.validDynamic(w, body) {
		return
	}
	cl, ok := s.readCluster(w, r)
	if !ok {
		return
	}
	if !reflect.DeepEqual(body, cl.Config) {
		ctx, cancel := context.WithTimeout(r.Context(), s.opts.DCSTimeout)
		defer cancel()
		if _, err := s.opts.Controller.SetConfig(ctx, cluster.EncodeConfig(body), -1); err != nil {
			writeText(w, http.StatusBadGateway, fmt.Sprintf("could not write the configuration: %v\n", err))
			return
		}
	}
	writeJSON(w, http.StatusOK, body)
}

// validDynamic refuses a configuration every agent would reject as unsafe, and names
// adjusted timings in a Warning header.
func (s *Server) validDynamic(w http.ResponseWriter, raw map[string]any) bool {
	if pg, ok := raw["postgresql"].(map[string]any); ok {
		if params, ok := pg["parameters"].(map[string]any); ok {
			for name, v := range params {
				if str, ok := v.(string); ok && strings.ContainsAny(str, "\n\r\x00") {
					writeText(w, http.StatusBadRequest, fmt.Sprintf("refusing the configuration: postgresql.parameters.%s contains a line break or NUL\n", name))
					return false
				}
			}
		}
	}
	if d, _ := config.ParseDynamic(raw); d.TimingNote != "" {
		w.Header().Set("Warning", "299 warden "+strconv.Quote(d.TimingsNote()))
	}
	return true
}

// mergePatch applies a JSON merge patch: objects merge recursively, null deletes.
func mergePatch(dst, patch map[string]any) map[string]any {
	for k, v := range patch {
		if v == nil {
			delete(dst, k)
			continue
		}
		if pm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = mergePatch(dm, pm)
				continue
			}
			dst[k] = mergePatch(map[string]any{}, pm)
			continue
		}
		dst[k] = v
	}
	return dst
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			out[k] = cloneMap(sub)
		} else {
			out[k] = v
		}
	}
	return out
}
