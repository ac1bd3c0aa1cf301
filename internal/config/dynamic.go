package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Dynamic is the cluster-wide configuration stored in the DCS "config"
// key (seeded from bootstrap.dcs), with Patroni's defaults filled in.
type Dynamic struct {
	TTL, LoopWait, RetryTimeout             time.Duration
	MaximumLagOnFailover                    int64
	MaximumLagOnSyncnode                    int64
	PrimaryStartTimeout, PrimaryStopTimeout time.Duration
	CheckTimeline                           bool
	SynchronousMode, SynchronousModeStrict  bool
	// SynchronousQuorum: synchronous_mode is "quorum" (Patroni 4's quorum commit);
	// SynchronousMode is then true as well.
	SynchronousQuorum    bool
	SynchronousNodeCount int
	FailsafeMode         bool
	Pause                bool
	UsePgRewind          bool
	UseSlots             bool
	Parameters           map[string]any // every name kept; the agent checks them against its binaries
	PgHBA                []string
	PgIdent              []string
	RecoveryConf         map[string]any
	MaxTimelinesHistory  int
	// StandbyCluster keeps only the keys Patroni honours; nil when absent.
	StandbyCluster map[string]any
	// Standby is standby_cluster, typed; nil unless it makes this a standby cluster.
	Standby *Standby
	// Slots is the permanent slots map (slots / permanent_slots /
	// permanent_replication_slots), as written; PermanentSlots the valid entries.
	Slots          map[string]any
	PermanentSlots []PermanentSlot
	IgnoreSlots    []SlotMatcher
	// TimingNote says how ttl, loop_wait and retry_timeout in effect differ from the
	// values written (Patroni 4's adjustment); "" when they are used as written.
	TimingNote string
	// Raw is the map as given, for writing back to the DCS unchanged.
	Raw map[string]any
}

// DefaultDynamic returns Patroni's built-in dynamic defaults (A.11).
func DefaultDynamic() Dynamic {
	return Dynamic{
		TTL:                  30 * time.Second,
		LoopWait:             10 * time.Second,
		RetryTimeout:         10 * time.Second,
		MaximumLagOnFailover: 1048576,
		MaximumLagOnSyncnode: -1,
		PrimaryStartTimeout:  300 * time.Second,
		SynchronousNodeCount: 1,
		UseSlots:             true,
		Parameters:           map[string]any{},
	}
}

// ParseDynamic reads the DCS "config" value (or bootstrap.dcs). It never
// fails: a bad value falls back to its default with a warning, as Patroni
// keeps running on whatever an operator typed into edit-config.
func ParseDynamic(raw map[string]any) (Dynamic, []Warning) {
	d := newDiags(nil)
	dyn := parseDynamic(d, "", raw)
	return dyn, d.warns
}

var standbyClusterKeys = []string{"host", "port", "primary_slot_name", "create_replica_methods",
	"restore_command", "archive_cleanup_command", "recovery_min_apply_delay"}

func parseDynamic(d *diags, path string, raw map[string]any) Dynamic {
	dyn := DefaultDynamic()
	dyn.Raw = raw
	s := newSection(d, path, raw, true)
	dyn.TTL = s.seconds("ttl", dyn.TTL)
	dyn.LoopWait = s.seconds("loop_wait", dyn.LoopWait)
	dyn.RetryTimeout = s.seconds("retry_timeout", dyn.RetryTimeout)
	dyn.TimingNote = dyn.adjustTimings()
	dyn.MaximumLagOnFailover = s.integer("maximum_lag_on_failover", dyn.MaximumLagOnFailover)
	dyn.MaximumLagOnSyncnode = s.integer("maximum_lag_on_syncnode", dyn.MaximumLagOnSyncnode)
	if dyn.MaximumLagOnSyncnode < -1 {
		s.d.warn(s.key("maximum_lag_on_syncnode"), "must be at least -1, got %d; using -1", dyn.MaximumLagOnSyncnode)
		dyn.MaximumLagOnSyncnode = -1
	}
	dyn.MaxTimelinesHistory = int(s.integer("max_timelines_history", 0))
	// The primary_* name wins over the master_* alias when both are set.
	dyn.PrimaryStartTimeout = s.seconds("master_start_timeout", dyn.PrimaryStartTimeout)
	dyn.PrimaryStartTimeout = s.seconds("primary_start_timeout", dyn.PrimaryStartTimeout)
	dyn.PrimaryStopTimeout = s.seconds("master_stop_timeout", dyn.PrimaryStopTimeout)
	dyn.PrimaryStopTimeout = s.seconds("primary_stop_timeout", dyn.PrimaryStopTimeout)
	dyn.CheckTimeline = s.boolean("check_timeline", false)
	if s.has("synchronous_mode") && toString(s.get("synchronous_mode")) == "quorum" {
		dyn.SynchronousMode, dyn.SynchronousQuorum = true, true
	} else {
		dyn.SynchronousMode = s.boolean("synchronous_mode", false)
	}
	dyn.SynchronousModeStrict = s.boolean("synchronous_mode_strict", false)
	dyn.SynchronousNodeCount = int(s.integer("synchronous_node_count", 1))
	if dyn.SynchronousNodeCount < 1 {
		s.d.warn(s.key("synchronous_node_count"), "must be at least 1, got %d; using 1", dyn.SynchronousNodeCount)
		dyn.SynchronousNodeCount = 1
	}
	dyn.FailsafeMode = s.boolean("failsafe_mode", false)
	dyn.Pause = s.boolean("pause", false)

	pg := s.sub("postgresql")
	dyn.UsePgRewind = pg.boolean("use_pg_rewind", false)
	dyn.UseSlots = pg.boolean("use_slots", true)
	dyn.Parameters = parameters(pg, "parameters", false)
	dyn.PgHBA = pg.strList("pg_hba")
	dyn.PgIdent = pg.strList("pg_ident")
	dyn.RecoveryConf = pg.rawMap("recovery_conf")
	localOnly := "is a local setting (postgresql section of the node's file); ignored in the dynamic configuration"
	hints := map[string]string{}
	for _, k := range []string{"listen", "connect_address", "proxy_address", "config_dir", "data_dir", "pgpass", "authentication", "bin_dir"} {
		hints[k] = localOnly
	}
	pg.done(hints)

	if sc := s.rawMap("standby_cluster"); sc != nil {
		dyn.StandbyCluster = map[string]any{}
		scs := newSection(d, s.key("standby_cluster"), sc, true)
		for _, k := range standbyClusterKeys {
			if scs.has(k) {
				dyn.StandbyCluster[k] = scs.get(k)
			}
		}
		dyn.Standby = parseStandby(scs)
		scs.done(nil)
	}
	for _, k := range []string{"slots", "permanent_slots", "permanent_replication_slots"} {
		if m := s.rawMap(k); m != nil && dyn.Slots == nil {
			dyn.Slots = m
			dyn.PermanentSlots = parseSlots(d, s.key(k), m)
		}
	}
	if v := s.get("ignore_slots"); v != nil {
		if l, ok := v.([]any); ok {
			dyn.IgnoreSlots = parseIgnoreSlots(d, s.key("ignore_slots"), l)
		} else {
			s.bad("ignore_slots", "a list", v)
		}
	}
	s.unsupported("Patroni 4 feature", "member_slots_ttl")
	s.done(nil)
	return dyn
}

// Minimum timings Warden runs with. Patroni 4 raises ttl to 20 and retry_timeout to 3;
// Warden keeps short timings (failover time is bounded by ttl), down to the smallest ttl
// that leaves room for one loop and two retries.
const (
	minLoopWait     = time.Second
	minRetryTimeout = time.Second
	minTTL          = minLoopWait + 2*minRetryTimeout
)

// adjustTimings makes the timings safe instead of refusing them, as Patroni 4 does
// (config.py _validate_and_adjust_timeouts): each value is raised to its minimum, then
// when ttl < loop_wait + 2*retry_timeout, loop_wait is lowered (to ttl - 2*retry_timeout),
// or, when even loop_wait 1 is too long, loop_wait becomes 1 and retry_timeout
// (ttl - 1)/2 in whole seconds. The lock then always outlives one loop plus two retries.
// It returns a note in Patroni's words, "" when the values are used as written.
func (d *Dynamic) adjustTimings() string {
	var notes []string
	raise := func(name string, v *time.Duration, min time.Duration) {
		if *v < min {
			notes = append(notes, fmt.Sprintf("%s=%s can't be smaller than %s, adjusting...", name, secs(*v), secs(min)))
			*v = min
		}
	}
	raise("loop_wait", &d.LoopWait, minLoopWait)
	raise("retry_timeout", &d.RetryTimeout, minRetryTimeout)
	raise("ttl", &d.TTL, minTTL)
	loop, retry := d.LoopWait, d.RetryTimeout
	switch {
	case minLoopWait+2*retry > d.TTL:
		d.LoopWait, d.RetryTimeout = minLoopWait, ((d.TTL - minLoopWait) / 2).Truncate(time.Second)
		notes = append(notes, fmt.Sprintf(`Violated the rule "loop_wait + 2*retry_timeout <= ttl", where ttl=%s. Adjusting loop_wait from %s to %s and retry_timeout from %s to %s`,
			secs(d.TTL), secs(loop), secs(d.LoopWait), secs(retry), secs(d.RetryTimeout)))
	case loop+2*retry > d.TTL:
		d.LoopWait = d.TTL - 2*retry
		notes = append(notes, fmt.Sprintf(`Violated the rule "loop_wait + 2*retry_timeout <= ttl", where ttl=%s and retry_timeout=%s. Adjusting loop_wait from %s to %s`,
			secs(d.TTL), secs(retry), secs(loop), secs(d.LoopWait)))
	}
	return strings.Join(notes, "; ")
}

// TimingsNote is TimingNote followed by the values in effect, for logs, API answers and
// show-config; "" when the timings are used as written.
func (d Dynamic) TimingsNote() string {
	if d.TimingNote == "" {
		return ""
	}
	return fmt.Sprintf("%s (in effect: ttl=%s loop_wait=%s retry_timeout=%s)", d.TimingNote, secs(d.TTL), secs(d.LoopWait), secs(d.RetryTimeout))
}

// secs prints a duration as Patroni prints its integer seconds.
func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }

// commandLineParameters are only accepted from the dynamic configuration
// (A.13); Patroni drops them from the local section.
var commandLineParameters = map[string]bool{
	"listen_addresses": true, "port": true, "cluster_name": true, "wal_level": true, "hot_standby": true,
	"max_connections": true, "max_wal_senders": true, "wal_keep_segments": true, "wal_keep_size": true,
	"max_prepared_transactions": true, "max_locks_per_transaction": true, "track_commit_timestamp": true,
	"max_replication_slots": true, "max_worker_processes": true, "wal_log_hints": true,
}

// parameters reads a GUC map. Names are kept whatever they are (the agent checks them
// against its binaries; validate-config passes a check that warns). Locally, the
// command-line parameters are removed, because Patroni only takes them from the DCS.
func parameters(s *section, k string, local bool) map[string]any {
	m := s.rawMap(k)
	out := make(map[string]any, len(m))
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	path := s.key(k)
	for _, n := range names {
		v := m[n]
		p := joinPath(path, n)
		switch {
		case local && commandLineParameters[n]:
			s.d.warn(p, "%s is only accepted from the dynamic configuration (bootstrap.dcs / patronictl edit-config), removed here", n)
		default:
			switch v.(type) {
			case nil:
				s.d.warn(p, "no value, removed")
				continue
			case map[string]any, []any:
				s.d.warn(p, "expected a single value, got %s; removed", describe(n, v))
				continue
			}
			if s.d.check != nil {
				if msg := s.d.check(n); msg != "" {
					s.d.warn(p, "%s", msg)
				}
			}
			out[n] = v
		}
	}
	return out
}

// Standby is the standby_cluster section: the cluster's leader is a standby leader that
// replicates from a remote primary (Host/Port) and/or replays an archive
// (RestoreCommand), and the other members cascade from it.
type Standby struct {
	Host                  string
	Port                  int
	PrimarySlotName       string
	CreateReplicaMethods  []string
	RestoreCommand        string
	ArchiveCleanupCommand string
	RecoveryMinApplyDelay string
}

// parseStandby reads standby_cluster; nil when none of host, port and restore_command
// is set (Patroni's is_standby_cluster).
func parseStandby(s *section) *Standby {
	sb := &Standby{
		Host:                  s.str("host"),
		PrimarySlotName:       s.str("primary_slot_name"),
		CreateReplicaMethods:  s.strList("create_replica_methods"),
		RestoreCommand:        s.str("restore_command"),
		ArchiveCleanupCommand: s.str("archive_cleanup_command"),
		RecoveryMinApplyDelay: s.str("recovery_min_apply_delay"),
	}
	if s.has("port") && s.str("port") != "" {
		port := s.integer("port", 0)
		if port < 1 || port > 65535 {
			s.d.warn(s.key("port"), "must be a port number (1-65535), got %d; ignored", port)
			port = 0
		}
		sb.Port = int(port)
	}
	if sb.Host == "" && sb.Port == 0 && sb.RestoreCommand == "" {
		return nil
	}
	return sb
}

// Remote names what the standby leader replicates from: host:port (5432 when the port
// is not given, as libpq), plus the slot it uses; "archive" when only restore_command
// is set.
func (s *Standby) Remote() string {
	if s.Host == "" && s.Port == 0 {
		return "archive"
	}
	host, port := s.Host, s.Port
	if host == "" {
		host = "localhost"
	}
	if port == 0 {
		port = 5432
	}
	r := fmt.Sprintf("%s:%d", host, port)
	if s.PrimarySlotName != "" {
		r += "/" + s.PrimarySlotName
	}
	return r
}
