package api

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/warden-ha/warden/internal/cluster"
)

// statusCollector exposes the published status under Patroni's metric names, with
// Patroni 3.2+'s labels (scope, name).
type statusCollector struct {
	src  Source
	now  func() time.Time
	desc map[string]*prometheus.Desc
}

var patroniMetrics = []struct{ name, help string }{
	{"patroni_version", "Patroni semver without periods."},
	{"patroni_postgres_running", "Value is 1 if Postgres is running, 0 otherwise."},
	{"patroni_postmaster_start_time", "Epoch seconds since Postgres started."},
	{"patroni_master", "Value is 1 if this node is the leader, 0 otherwise."},
	{"patroni_primary", "Value is 1 if this node is the leader, 0 otherwise."},
	{"patroni_xlog_location", "Current location of the Postgres transaction log, 0 if this node is not the leader."},
	{"patroni_standby_leader", "Value is 1 if this node is the standby_leader, 0 otherwise."},
	{"patroni_replica", "Value is 1 if this node is a replica, 0 otherwise."},
	{"patroni_sync_standby", "Value is 1 if this node is a sync standby replica, 0 otherwise."},
	{"patroni_quorum_standby", "Value is 1 if this node is a quorum standby replica, 0 otherwise."},
	{"patroni_xlog_received_location", "Current location of the received Postgres transaction log, 0 if this node is not a replica."},
	{"patroni_xlog_replayed_location", "Current location of the replayed Postgres transaction log, 0 if this node is not a replica."},
	{"patroni_xlog_replayed_timestamp", "Current timestamp of the replayed Postgres transaction log, 0 if null."},
	{"patroni_xlog_paused", "Value is 1 if the Postgres xlog is paused, 0 otherwise."},
	{"patroni_postgres_streaming", "Value is 1 if Postgres is streaming, 0 otherwise."},
	{"patroni_postgres_in_archive_recovery", "Value is 1 if Postgres is replicating from archive, 0 otherwise."},
	{"patroni_postgres_server_version", "Version of Postgres (if running), 0 otherwise."},
	{"patroni_cluster_unlocked", "Value is 1 if the cluster is unlocked, 0 if locked."},
	{"patroni_failsafe_mode_is_active", "Value is 1 if failsafe mode is active, 0 if inactive."},
	{"patroni_postgres_timeline", "Postgres timeline of this node (if running), 0 otherwise."},
	{"patroni_dcs_last_seen", "Epoch timestamp when DCS was last contacted successfully by Patroni."},
	{"patroni_pending_restart", "Value is 1 if the node needs a restart, 0 otherwise."},
	{"patroni_is_paused", "Value is 1 if auto failover is disabled, 0 otherwise."},
	{"patroni_postgres_state", "Numeric representation of Postgres state. Values: " + postgresStateValues() + "."},
}

// postgresStates are Patroni 4.1's PostgresqlState indexes, which it promises never to
// renumber; a state outside the list is -1.
var postgresStates = []string{
	"initializing new cluster", "initdb failed", "running custom bootstrap script",
	"custom bootstrap failed", "creating replica", "running", "starting",
	"starting after custom bootstrap", "start failed", "restarting", "restart failed",
	"stopping", "stopped", "stop failed", "crashed",
}

func postgresStateValues() string {
	parts := make([]string, len(postgresStates))
	for i, s := range postgresStates {
		parts[i] = strconv.Itoa(i) + "=" + s
	}
	return strings.Join(parts, ", ")
}

func postgresStateIndex(state string) float64 {
	return float64(slices.Index(postgresStates, state))
}

// counterMetrics are exported as counters, as Patroni does; the timeline is a gauge
// (Patroni 4.1.4: it drops to 0 when PostgreSQL stops).
var counterMetrics = map[string]bool{
	"patroni_xlog_location": true, "patroni_xlog_received_location": true,
	"patroni_xlog_replayed_location": true,
}

func newStatusCollector(src Source, now func() time.Time) *statusCollector {
	c := &statusCollector{src: src, now: now, desc: map[string]*prometheus.Desc{}}
	for _, m := range patroniMetrics {
		c.desc[m.name] = prometheus.NewDesc(m.name, m.help, []string{"scope", "name"}, nil)
	}
	return c
}

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.desc {
		ch <- d
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Status()
	if st == nil {
		return
	}
	primary := st.PostgresReachable && st.Role.IsPrimary()
	replica := st.PostgresReachable && st.Role == cluster.RoleReplica
	var start, replayed float64
	if t, err := time.Parse("2006-01-02 15:04:05.999999-07:00", st.PostmasterStartTime); err == nil {
		start = float64(t.UnixNano()) / 1e9
	}
	if st.ReplayedTimestamp != nil {
		if t, err := time.Parse("2006-01-02 15:04:05.999999-07:00", *st.ReplayedTimestamp); err == nil {
			replayed = float64(t.UnixNano()) / 1e9
		}
	}
	var xlog, received, replayedLoc float64
	if primary {
		xlog = float64(st.XLogLocation)
	}
	if replica {
		received, replayedLoc = float64(st.ReceivedLocation), float64(st.ReplayedLocation)
	}
	values := map[string]float64{
		"patroni_version":                      versionNumber(st.Dialect.APIVersion()),
		"patroni_postgres_running":             b2f(st.State == "running"),
		"patroni_postmaster_start_time":        start,
		"patroni_master":                       b2f(primary),
		"patroni_primary":                      b2f(primary),
		"patroni_xlog_location":                xlog,
		"patroni_standby_leader":               b2f(st.Role == cluster.RoleStandbyLeader),
		"patroni_replica":                      b2f(replica),
		"patroni_sync_standby":                 b2f(st.SyncStandby && !st.QuorumMode),
		"patroni_quorum_standby":               b2f(st.SyncStandby && st.QuorumMode),
		"patroni_xlog_received_location":       received,
		"patroni_xlog_replayed_location":       replayedLoc,
		"patroni_xlog_replayed_timestamp":      replayed,
		"patroni_xlog_paused":                  b2f(st.ReplayPaused),
		"patroni_postgres_streaming":           b2f(st.ReplicationState == "streaming"),
		"patroni_postgres_in_archive_recovery": b2f(st.ReplicationState == "in archive recovery"),
		"patroni_postgres_server_version":      float64(st.ServerVersion),
		"patroni_cluster_unlocked":             b2f(st.ClusterUnlocked),
		"patroni_failsafe_mode_is_active":      b2f(st.FailsafeActive),
		"patroni_postgres_timeline":            float64(st.Timeline),
		"patroni_dcs_last_seen":                float64(st.DCSLastSeen.Unix()),
		"patroni_pending_restart":              b2f(st.PendingRestart),
		"patroni_is_paused":                    b2f(st.Pause),
		"patroni_postgres_state":               postgresStateIndex(st.State),
	}
	if st.DCSLastSeen.IsZero() {
		values["patroni_dcs_last_seen"] = 0
	}
	for _, m := range patroniMetrics {
		if m.name == "patroni_master" && st.Dialect.Major() == cluster.Patroni4 {
			continue // Patroni 4 dropped it
		}
		kind := prometheus.GaugeValue
		if counterMetrics[m.name] {
			kind = prometheus.CounterValue
		}
		ch <- prometheus.MustNewConstMetric(c.desc[m.name], kind, values[m.name], st.Scope, st.Name)
	}
}

// versionNumber renders 3.0.2 as 30002 (Patroni prints it zero-padded: 030002).
func versionNumber(v string) float64 {
	var b strings.Builder
	for _, p := range strings.Split(v, ".") {
		n, _ := strconv.Atoi(p)
		b.WriteString(strconv.Itoa(n/10) + strconv.Itoa(n%10))
	}
	f, _ := strconv.ParseFloat(b.String(), 64)
	return f
}

// metricsHandler serves the status metrics plus whatever the registry holds (the agent's
// decision counters).
func metricsHandler(src Source, now func() time.Time, reg *prometheus.Registry) http.Handler {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	reg.MustRegister(newStatusCollector(src, now))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
