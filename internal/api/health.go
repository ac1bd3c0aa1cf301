package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/warden-ha/warden/internal/cluster"
)

// healthCode answers a health-check path exactly as Patroni's generic GET handler does:
// substring routing in a fixed order, computed only from the published status.
func healthCode(v *view, path string, query url.Values, now time.Time) int {
	if path == "/" {
		path = "/primary"
	}
	st := v.st
	replica := v.replicaCode(query)
	leader, primary, standbyLeader, standbyHolder := v.leaderCodes(now)
	if standbyHolder {
		// A standby leader never serves as a load-balanced replica.
		replica = http.StatusServiceUnavailable
	}

	code := http.StatusServiceUnavailable
	ignoreTags := false
	sync, quorum := v.syncStandby(), v.quorumStandby()
	switch {
	case strings.Contains(path, "standby_leader") || strings.Contains(path, "standby-leader"):
		code, ignoreTags = standbyLeader, true
	case strings.Contains(path, "leader"):
		code, ignoreTags = leader, true
	case strings.Contains(path, "master") || strings.Contains(path, "primary") || strings.Contains(path, "read-write"):
		code, ignoreTags = primary, true
	case strings.Contains(path, "replica"):
		code = replica
	case strings.Contains(path, "read-only") && !strings.Contains(path, "sync") && !strings.Contains(path, "quorum"):
		code = replica
		if primary == http.StatusOK || standbyLeader == http.StatusOK {
			code = http.StatusOK
		}
	case strings.Contains(path, "health"):
		if v.state == "running" {
			code = http.StatusOK
		}
	case st.DCSAvailable:
		switch path {
		case "/sync", "/synchronous":
			if sync {
				code = replica
			}
		case "/async", "/asynchronous":
			if !sync && !quorum {
				code = replica
			}
		case "/quorum":
			if quorum {
				code = replica
			}
		case "/read-only-quorum":
			if primary == http.StatusOK || standbyLeader == http.StatusOK {
				code = http.StatusOK
			} else if quorum {
				code = replica
			}
		case "/read-only-sync", "/read-only-synchronous":
			if primary == http.StatusOK || standbyLeader == http.StatusOK {
				code = http.StatusOK
			} else if sync {
				code = replica
			}
		}
	}
	if !ignoreTags && code == http.StatusOK && !tagsMatch(st.Tags, query) {
		code = http.StatusServiceUnavailable
	}
	return code
}

// replicaCode is Patroni's replica_status_code.
func (v *view) replicaCode(query url.Values) int {
	st := v.st
	if cluster.Truthy(st.Tags["noloadbalance"]) {
		return http.StatusServiceUnavailable
	}
	if v.role != string(cluster.RoleReplica) || v.state != "running" {
		return http.StatusServiceUnavailable
	}
	var replayed uint64
	if st.PostgresReachable {
		replayed = st.ReplayedLocation
	}
	if vals, ok := query["lag"]; ok && len(vals) > 0 && vals[0] != "" {
		if maxLag, ok := parseLag(vals[0]); ok && lagging(st.LeaderOptime, replayed, maxLag) {
			return http.StatusServiceUnavailable
		}
	}
	return http.StatusOK
}

// leaderCodes returns the /leader, /primary and /standby-leader codes, and whether this
// node is the lock holder of a standby cluster.
func (v *view) leaderCodes(now time.Time) (leader, primary, standbyLeader int, standbyHolder bool) {
	const ok, no = http.StatusOK, http.StatusServiceUnavailable
	st := v.st
	is := func(b bool) int {
		if b {
			return ok
		}
		return no
	}
	switch {
	case !st.DCSAvailable && st.Pause:
		isPrimary := cluster.Role(v.role).IsPrimary()
		isStandbyLeader := v.role == string(cluster.RoleStandbyLeader)
		return is(isPrimary || isStandbyLeader), is(isPrimary), is(isStandbyLeader), false
	case now.Before(st.LockValidUntil):
		if st.StandbyCluster {
			return ok, no, is(v.role == string(cluster.RoleReplica) || v.role == string(cluster.RoleStandbyLeader)), true
		}
		// Patroni answers /primary from the lock alone; Warden also requires PostgreSQL to
		// run as a primary, so a lock holder still starting, in crash recovery or
		// promoting gets no writes.
		return ok, is(cluster.Role(v.role).IsPrimary() && v.state == "running"), no, false
	default:
		return no, no, no, false
	}
}

// tagsMatch applies tag_<key>=<value> filters: every filter must equal the node's tag,
// non-strings compared as Python's lower-cased str().
func tagsMatch(tags map[string]any, query url.Values) bool {
	for k, vals := range query {
		key, found := strings.CutPrefix(k, "tag_")
		if !found {
			continue
		}
		want := firstNonEmpty(vals)
		if want == "" {
			// parse_qs drops blank values, so Patroni never sees this filter.
			continue
		}
		tv, ok := tags[key]
		if !ok || tv == nil {
			return false
		}
		if pyString(tv) != want {
			return false
		}
	}
	return true
}

func firstNonEmpty(vals []string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// pyString renders a tag value as str(value).lower() would for a non-string, which is
// how Patroni compares ?tag_ filters.
func pyString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case bool:
		if t {
			return "true"
		}
		return "false"
	case float64:
		if t == float64(int64(t)) {
			return fmt.Sprintf("%d", int64(t))
		}
		return strings.ToLower(fmt.Sprint(t))
	default:
		return strings.ToLower(fmt.Sprint(t))
	}
}
