package config

import (
	"errors"
	"fmt"
	"sort"
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
	Parameters           map[string]any // unknown names removed
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

// Validate checks the timing rules Warden relies on: the lock must
// outlive one loop plus two retries (A.12). Unlike Patroni 3.2 nothing is
// clamped; short timings are fine as long as they are consistent.
func (d Dynamic) Validate() error {
	var errs []error
	if d.LoopWait < time.Second {
		errs = append(errs, fmt.Errorf("loop_wait (%s) must be at least 1s", d.LoopWait))
	}
	if d.RetryTimeout < time.Second {
		errs = append(errs, fmt.Errorf("retry_timeout (%s) must be at least 1s", d.RetryTimeout))
	}
	if d.TTL < 2*time.Second {
		errs = append(errs, fmt.Errorf("ttl (%s) must be at least 2s", d.TTL))
	}
	if d.TTL < d.LoopWait+2*d.RetryTimeout {
		errs = append(errs, fmt.Errorf("ttl (%s) must be >= loop_wait (%s) + 2*retry_timeout (%s) = %s",
			d.TTL, d.LoopWait, d.RetryTimeout, d.LoopWait+2*d.RetryTimeout))
	}
	return errors.Join(errs...)
}

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
