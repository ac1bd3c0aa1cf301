package pgnode

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/warden-ha/warden/internal/agent"
	"github.com/warden-ha/warden/internal/api"
	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/ha"
	"github.com/warden-ha/warden/internal/postgres"
	"github.com/warden-ha/warden/internal/postgres/pgconf"
)

// observeTimeout bounds the monitoring query; a server that cannot answer within it is
// reported as not ready rather than stalling the HA loop.
const observeTimeout = 2 * time.Second

// Observe looks at the data directory and the postmaster and, when it runs, queries it once.
func (n *Node) Observe(ctx context.Context, members []cluster.Member) agent.Observation {
	var o agent.Observation
	empty, err := n.dir.IsEmpty()
	if err != nil {
		n.log.Error("data directory is not accessible", "err", err)
	}
	if empty || err != nil {
		o.DataDirEmpty = true
		o.State = "stopped"
		if n.running() != nil {
			o.Running = true
		}
		return o
	}
	pm := n.running()
	if pm == nil {
		pm = n.adopt()
	}
	if pm == nil {
		return n.observeStopped(ctx)
	}
	o.Running = true
	o.State = "starting"
	qctx, cancel := context.WithTimeout(ctx, observeTimeout)
	defer cancel()
	conn, err := n.localConn(qctx)
	if err != nil {
		n.fillSysID(qctx, &o)
		return o
	}
	obs, err := conn.Observe(qctx)
	if err != nil {
		n.closeConn()
		n.fillSysID(qctx, &o)
		return o
	}
	n.fillRunning(qctx, conn, obs, members, &o)
	return o
}

// seedSyncNames keeps the value a running primary had when this agent started, if the
// configuration would set another: synchronous mode may have set it before a restart of
// the agent, and rewriting the file without it would make commits asynchronous while
// /sync still promises a synchronous standby. The core releases it when synchronous
// mode is off (Postgres.SyncNamesHeld).
func (n *Node) seedSyncNames(running string) {
	n.mu.Lock()
	seeded := n.syncSeeded
	n.syncSeeded = true
	n.mu.Unlock()
	if seeded {
		return
	}
	configured := n.merged().Parameters["synchronous_standby_names"]
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.syncNames == nil && running != configured {
		n.syncNames = &running
		n.log.Info("keeping synchronous_standby_names of the running primary until synchronous mode decides", "value", running)
	}
}

// adopt finds a postmaster left running by a previous agent process and watches it.
func (n *Node) adopt() *postgres.Postmaster {
	pid, ok := postgres.FindRunning(n.opts.DataDir)
	if !ok {
		return nil
	}
	pm, err := postgres.Adopt(pid, n.startOptions(n.params().Parameters))
	if err != nil {
		n.log.Warn("could not adopt the running postmaster", "pid", pid, "err", err)
		return nil
	}
	n.log.Info("adopted a running postmaster", "pid", pid)
	n.watch(pm)
	return pm
}

func (n *Node) observeStopped(ctx context.Context) agent.Observation {
	o := agent.Observation{State: "stopped"}
	if major, err := n.dir.Major(); err == nil && major >= 10 {
		// Patroni's server_version before the server answers: the data directory's major.
		o.ServerVersion = major * 10000
	}
	if !fileExists(filepath.Join(n.opts.DataDir, "global", "pg_control")) {
		// A copy in progress (pg_basebackup writes pg_control last), or not a cluster.
		return o
	}
	cd, err := n.tools.ControlData(ctx, n.opts.DataDir)
	if err != nil {
		n.log.Warn("pg_controldata failed", "err", err)
		return o
	}
	o.SysID = cd.SysID
	o.Timeline = cd.Timeline
	o.WasPrimary = cd.State == pgconf.StateInProduction
	o.Standby = cd.InRecovery() || fileExists(filepath.Join(n.opts.DataDir, "standby.signal"))
	if o.WasPrimary {
		o.State = "crashed"
	}
	return o
}

// fillSysID reads the system identifier once per data directory: it only changes when
// the directory is replaced (bootstrap, clone, reinitialize), which forgets it.
func (n *Node) fillSysID(ctx context.Context, o *agent.Observation) {
	n.mu.Lock()
	cached := n.sysid
	n.mu.Unlock()
	if cached != "" {
		o.SysID = cached
		return
	}
	if cd, err := n.tools.ControlData(ctx, n.opts.DataDir); err == nil {
		o.SysID = cd.SysID
		n.mu.Lock()
		n.sysid = cd.SysID
		n.mu.Unlock()
	}
}

// forgetSysID drops the cached identifier when the data directory is replaced.
func (n *Node) forgetSysID() {
	n.mu.Lock()
	n.sysid = ""
	n.mu.Unlock()
}

func (n *Node) fillRunning(ctx context.Context, conn *postgres.Conn, obs postgres.Observation, members []cluster.Member, o *agent.Observation) {
	o.Ready = true
	o.State = "running"
	o.InRecovery = obs.InRecovery
	o.Timeline = obs.Timeline
	o.ServerVersion = obs.ServerVersion
	o.PostmasterStartTime = obs.PostmasterStart.Format("2006-01-02 15:04:05.999999-07:00")
	settings := n.fillPending(ctx, conn, o)
	n.fillSysID(ctx, o)
	if !obs.InRecovery {
		o.WAL = obs.CurrentLSN
		if v, err := conn.Setting(ctx, "synchronous_standby_names"); err == nil {
			o.SyncStandbyNames = v
			n.seedSyncNames(v)
		}
		n.mu.Lock()
		o.SyncNamesHeld = n.syncNames != nil
		n.mu.Unlock()
		if rows, err := conn.Replication(ctx); err == nil {
			for _, r := range rows {
				o.Postgres.Replication = append(o.Postgres.Replication, ha.Replica{
					Name: r.ApplicationName, State: r.State, SyncState: r.SyncState, FlushLSN: r.FlushLSN,
				})
				o.Replication = append(o.Replication, api.ReplicationRow{
					Usename: r.User, ApplicationName: r.ApplicationName, ClientAddr: r.ClientAddr,
					State: r.State, SyncState: r.SyncState, SyncPriority: r.SyncPriority,
				})
			}
		}
		return
	}
	if slots, err := listSlots(ctx, conn); err == nil {
		o.Postgres.Slots = slots
	}
	o.ReceivedLSN, o.ReplayedLSN = obs.ReceivedLSN, obs.ReplayedLSN
	o.WAL = max(obs.ReceivedLSN, obs.ReplayedLSN)
	if !obs.ReplayTimestamp.IsZero() {
		ts := obs.ReplayTimestamp.Format("2006-01-02 15:04:05.999999-07:00")
		o.ReplayedTimestamp = &ts
	}
	o.ReplayPaused = obs.ReplayPaused
	n.fillInsufficient(ctx, settings, o)
	o.ReplicationState = "in archive recovery"
	if obs.ReceiverStatus == "streaming" {
		o.ReplicationState, o.Streaming = "streaming", true
	}
	if o.Timeline == 0 {
		if tl, err := n.replayTimeline(ctx); err == nil {
			o.Timeline = tl
		}
	}
	n.mu.Lock()
	o.Upstream = n.upstream
	n.mu.Unlock()
	if o.Upstream == "" && obs.ReceiverHost != "" {
		o.Upstream = upstreamByHost(members, obs.ReceiverHost, obs.ReceiverConnInfo)
	}
}

// upstreamByHost maps the WAL receiver's host (and port, from its conninfo) back to a member.
func upstreamByHost(members []cluster.Member, host, conninfo string) string {
	for _, m := range members {
		h, p := m.HostPort()
		if h == host && (conninfo == "" || containsPort(conninfo, p)) {
			return m.Name
		}
	}
	return ""
}

func containsPort(conninfo string, port int) bool {
	for _, f := range strings.Fields(conninfo) {
		if f == "port="+strconv.Itoa(port) {
			return true
		}
	}
	return false
}
