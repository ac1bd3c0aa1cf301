package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/warden-ha/warden/internal/cluster"
)

// Conn is the agent's SQL connection to its own (or the leader's) server.
type Conn struct {
	c *pgx.Conn
}

// Connect opens a connection with Patroni's settings: connect_timeout 3s,
// statement_timeout 2000ms, fallback_application_name Warden.
func Connect(ctx context.Context, p ConnParams) (*Conn, error) {
	if err := p.checkSupported(); err != nil {
		return nil, fmt.Errorf("connect to %s: %w", p.LogValue(), err)
	}
	cfg, err := pgx.ParseConfig(p.pgxDSN())
	if err == nil {
		err = p.finishConfig(&cfg.Config)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", p.LogValue(), err)
	}
	// pgx has no fallback_application_name; application_name is the same
	// unless the caller's DSN named one, which ConnParams cannot.
	cfg.RuntimeParams = map[string]string{"statement_timeout": "2000", "application_name": "Warden"}
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", p.address(), err)
	}
	return &Conn{c: c}, nil
}

// Close closes the connection.
func (c *Conn) Close(ctx context.Context) error { return c.c.Close(ctx) }

// Observation is the local monitoring snapshot of one cycle (E.1).
type Observation struct {
	InRecovery bool
	// Timeline: on a primary the latest checkpoint's; on a replica the WAL
	// receiver's received_tli (0 when it is not streaming).
	Timeline int
	// Primary only.
	CurrentLSN, FlushLSN uint64
	// Replica only.
	ReceivedLSN, ReplayedLSN uint64
	ReplayTimestamp          time.Time
	ReplayPaused             bool
	ServerVersion            int // e.g. 150004
	PostmasterStart          time.Time
	// WAL receiver (replica streaming); empty when none.
	ReceiverStatus   string
	ReceiverSlot     string
	ReceiverHost     string
	ReceiverConnInfo string
}

const observeSQL = `
SELECT pg_catalog.pg_is_in_recovery(),
  CASE WHEN pg_catalog.pg_is_in_recovery() THEN COALESCE(w.received_tli, 0)
       ELSE ('x' || substr(pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn()), 1, 8))::bit(32)::int END,
  CASE WHEN pg_catalog.pg_is_in_recovery() THEN NULL ELSE pg_catalog.pg_current_wal_lsn()::text END,
  CASE WHEN pg_catalog.pg_is_in_recovery() THEN NULL ELSE pg_catalog.pg_current_wal_flush_lsn()::text END,
  pg_catalog.pg_last_wal_receive_lsn()::text,
  pg_catalog.pg_last_wal_replay_lsn()::text,
  pg_catalog.pg_last_xact_replay_timestamp(),
  CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_is_wal_replay_paused() ELSE false END,
  pg_catalog.current_setting('server_version_num')::int,
  pg_catalog.pg_postmaster_start_time(),
  COALESCE(w.status, ''), COALESCE(w.slot_name, ''), COALESCE(w.sender_host, ''), COALESCE(w.conninfo, '')
FROM (SELECT 1) AS one LEFT JOIN pg_catalog.pg_stat_wal_receiver w ON true`

// Observe reads the observation in one query.
func (c *Conn) Observe(ctx context.Context) (Observation, error) {
	var (
		o                                  Observation
		current, flush, received, replayed *string
		replayTS                           *time.Time
	)
	err := c.c.QueryRow(ctx, observeSQL).Scan(&o.InRecovery, &o.Timeline, &current, &flush, &received, &replayed,
		&replayTS, &o.ReplayPaused, &o.ServerVersion, &o.PostmasterStart,
		&o.ReceiverStatus, &o.ReceiverSlot, &o.ReceiverHost, &o.ReceiverConnInfo)
	if err != nil {
		return Observation{}, fmt.Errorf("observe: %w", err)
	}
	for _, f := range []struct {
		s   *string
		dst *uint64
	}{{current, &o.CurrentLSN}, {flush, &o.FlushLSN}, {received, &o.ReceivedLSN}, {replayed, &o.ReplayedLSN}} {
		if f.s == nil {
			continue
		}
		if *f.dst, err = cluster.ParseLSN(*f.s); err != nil {
			return Observation{}, fmt.Errorf("observe: %w", err)
		}
	}
	if replayTS != nil {
		o.ReplayTimestamp = *replayTS
	}
	return o, nil
}

// ReplicationRow is one row of pg_stat_replication.
type ReplicationRow struct {
	Pid             int
	User            string
	ApplicationName string
	ClientAddr      string
	State           string
	SyncState       string
	SyncPriority    int
	FlushLSN        uint64
	ReplayLSN       uint64
}

// Replication lists the walsenders (pg_stat_replication).
func (c *Conn) Replication(ctx context.Context) ([]ReplicationRow, error) {
	rows, err := c.c.Query(ctx, `SELECT pid, COALESCE(usename::text, ''), application_name, COALESCE(host(client_addr), ''),
  COALESCE(state, ''), COALESCE(sync_state, ''), COALESCE(sync_priority, 0),
  COALESCE(flush_lsn::text, '0/0'), COALESCE(replay_lsn::text, '0/0')
FROM pg_catalog.pg_stat_replication ORDER BY pid`)
	if err != nil {
		return nil, fmt.Errorf("pg_stat_replication: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ReplicationRow, error) {
		var r ReplicationRow
		var flush, replay string
		if err := row.Scan(&r.Pid, &r.User, &r.ApplicationName, &r.ClientAddr, &r.State, &r.SyncState,
			&r.SyncPriority, &flush, &replay); err != nil {
			return r, err
		}
		var err error
		if r.FlushLSN, err = cluster.ParseLSN(flush); err != nil {
			return r, err
		}
		r.ReplayLSN, err = cluster.ParseLSN(replay)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("pg_stat_replication: %w", err)
	}
	return out, nil
}

// Slot is one row of pg_replication_slots.
type Slot struct {
	Name       string
	Type       string // physical or logical
	Plugin     string
	Database   string
	Active     bool
	Temporary  bool
	RestartLSN uint64
	// ConfirmedFlushLSN: logical slots only, 0 otherwise.
	ConfirmedFlushLSN uint64
	// CatalogXmin: logical slots only, 0 when null.
	CatalogXmin uint32
	// Failover and Synced are PostgreSQL 17's columns (false before 17).
	Failover, Synced bool
}

// Slots lists the replication slots.
func (c *Conn) Slots(ctx context.Context) ([]Slot, error) {
	rows, err := c.c.Query(ctx, `SELECT slot_name, slot_type, COALESCE(plugin, ''), COALESCE(database::text, ''), active,
  temporary, COALESCE(restart_lsn::text, '0/0'), COALESCE(confirmed_flush_lsn::text, '0/0'),
  COALESCE(catalog_xmin::text::bigint, 0),
  COALESCE((pg_catalog.to_jsonb(s)->>'failover')::bool, false), COALESCE((pg_catalog.to_jsonb(s)->>'synced')::bool, false)
FROM pg_catalog.pg_replication_slots s ORDER BY slot_name`)
	if err != nil {
		return nil, fmt.Errorf("pg_replication_slots: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Slot, error) {
		var s Slot
		var restart, flush string
		var xmin int64
		if err := row.Scan(&s.Name, &s.Type, &s.Plugin, &s.Database, &s.Active, &s.Temporary, &restart, &flush, &xmin, &s.Failover, &s.Synced); err != nil {
			return s, err
		}
		s.CatalogXmin = uint32(xmin)
		var err error
		if s.RestartLSN, err = cluster.ParseLSN(restart); err != nil {
			return s, err
		}
		s.ConfirmedFlushLSN, err = cluster.ParseLSN(flush)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("pg_replication_slots: %w", err)
	}
	return out, nil
}

// CreatePhysicalSlot creates a physical slot reserving WAL immediately; an
// existing slot of that name is left alone. It reports whether it created one.
func (c *Conn) CreatePhysicalSlot(ctx context.Context, name string) (bool, error) {
	tag, err := c.c.Exec(ctx, `SELECT pg_catalog.pg_create_physical_replication_slot($1, true)
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = $1)`, name)
	if err != nil {
		return false, fmt.Errorf("create slot %s: %w", name, err)
	}
	return tag.RowsAffected() == 1, nil
}

// CreateLogicalSlot creates a logical slot in the connection's database; an existing
// slot of that name is left alone. Creation waits for the transactions running at that
// moment to end; the connection's statement_timeout bounds the wait, so a long
// transaction fails the attempt (retried next cycle) instead of holding up the caller.
func (c *Conn) CreateLogicalSlot(ctx context.Context, name, plugin string) (bool, error) {
	tag, err := c.c.Exec(ctx, `SELECT pg_catalog.pg_create_logical_replication_slot($1, $2)
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = $1)`, name, plugin)
	if err != nil {
		return false, fmt.Errorf("create logical slot %s: %w", name, err)
	}
	return tag.RowsAffected() == 1, nil
}

// AdvanceSlot moves a slot forward to lsn (PostgreSQL caps it at what the server has
// flushed or, on a standby, replayed) and returns where it ended. A logical slot can
// only be advanced from a connection to its database.
func (c *Conn) AdvanceSlot(ctx context.Context, name string, lsn uint64) (uint64, error) {
	var end string
	err := c.c.QueryRow(ctx, `SELECT end_lsn::text FROM pg_catalog.pg_replication_slot_advance($1, $2::pg_lsn)`,
		name, cluster.FormatLSN(lsn)).Scan(&end)
	if err != nil {
		return 0, fmt.Errorf("advance slot %s: %w", name, err)
	}
	return cluster.ParseLSN(end)
}

// SlotCopy is a logical slot as read from the primary for copying to a replica.
type SlotCopy struct {
	Name, Database, Plugin string
	ConfirmedFlushLSN      uint64
	// State is the content of pg_replslot/<name>/state.
	State []byte
}

// LogicalSlotStates reads the named logical slots' state files (superuser, or a role
// allowed pg_read_binary_file). Nothing is returned from a server in recovery.
func (c *Conn) LogicalSlotStates(ctx context.Context, names []string) ([]SlotCopy, error) {
	rows, err := c.c.Query(ctx, `SELECT s.slot_name, d.datname, s.plugin, COALESCE(s.confirmed_flush_lsn::text, '0/0'),
  pg_catalog.pg_read_binary_file('pg_replslot/' || s.slot_name || '/state')
FROM pg_catalog.pg_get_replication_slots() s JOIN pg_catalog.pg_database d ON s.datoid = d.oid
WHERE NOT pg_catalog.pg_is_in_recovery() AND s.slot_type = 'logical' AND NOT s.temporary AND s.slot_name = ANY($1)`, names)
	if err != nil {
		return nil, fmt.Errorf("read logical slots: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (SlotCopy, error) {
		var s SlotCopy
		var flush string
		if err := row.Scan(&s.Name, &s.Database, &s.Plugin, &flush, &s.State); err != nil {
			return s, err
		}
		var err error
		s.ConfirmedFlushLSN, err = cluster.ParseLSN(flush)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("read logical slots: %w", err)
	}
	return out, nil
}

// PrimarySlotXmins returns the catalog_xmin (0 when null) of the named slots on a
// primary; nothing from a server in recovery.
func (c *Conn) PrimarySlotXmins(ctx context.Context, names []string) (map[string]uint32, error) {
	rows, err := c.c.Query(ctx, `SELECT slot_name, COALESCE(catalog_xmin::text::bigint, 0) FROM pg_catalog.pg_get_replication_slots()
WHERE NOT pg_catalog.pg_is_in_recovery() AND slot_name = ANY($1)`, names)
	if err != nil {
		return nil, fmt.Errorf("slots on the primary: %w", err)
	}
	out := map[string]uint32{}
	var name string
	var xmin int64
	_, err = pgx.ForEachRow(rows, []any{&name, &xmin}, func() error {
		out[name] = uint32(xmin)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("slots on the primary: %w", err)
	}
	return out, nil
}

// IsWALRemoved reports PostgreSQL's "requested WAL segment has already been removed"
// (SQLSTATE 58P01), as a slot advance fails when the WAL it must read is gone.
func IsWALRemoved(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "58P01"
}

// DropSlot drops a slot if it exists and is not in use, and reports whether it did.
func (c *Conn) DropSlot(ctx context.Context, name string) (bool, error) {
	tag, err := c.c.Exec(ctx, `SELECT pg_catalog.pg_drop_replication_slot(slot_name)
FROM pg_catalog.pg_replication_slots WHERE slot_name = $1 AND NOT active`, name)
	if err != nil {
		return false, fmt.Errorf("drop slot %s: %w", name, err)
	}
	return tag.RowsAffected() == 1, nil
}

// roleOptions are the CREATE/ALTER ROLE options Warden may pass; anything
// else is refused so an option list can never carry SQL.
var roleOptions = map[string]bool{
	"SUPERUSER": true, "NOSUPERUSER": true, "CREATEDB": true, "NOCREATEDB": true,
	"CREATEROLE": true, "NOCREATEROLE": true, "INHERIT": true, "NOINHERIT": true,
	"LOGIN": true, "NOLOGIN": true, "REPLICATION": true, "NOREPLICATION": true,
	"BYPASSRLS": true, "NOBYPASSRLS": true,
}

// EnsureRole creates the role or alters it to have options and password.
// The statement is kept out of the server log (it carries the password) and
// commits locally so it does not wait for a synchronous standby.
func (c *Conn) EnsureRole(ctx context.Context, name, password string, options []string) error {
	var opts []string
	for _, o := range options {
		u := strings.ToUpper(strings.TrimSpace(o))
		if !roleOptions[u] {
			return fmt.Errorf("ensure role %s: unsupported option %q", name, o)
		}
		opts = append(opts, u)
	}
	ident := pgx.Identifier{name}.Sanitize()
	if password != "" {
		if strings.ContainsRune(password, 0) {
			return fmt.Errorf("ensure role %s: password contains NUL", name)
		}
		opts = append(opts, "PASSWORD "+quoteLiteral(password))
	}
	return pgx.BeginFunc(ctx, c.c, func(tx pgx.Tx) error {
		for _, set := range []string{
			"SET LOCAL log_statement = 'none'", "SET LOCAL log_min_duration_statement = -1",
			"SET LOCAL log_min_error_statement = 'panic'", "SET LOCAL synchronous_commit = 'local'",
			// Extensions that record statements (Patroni 4.0.3); without them loaded these
			// set placeholders and change nothing.
			"SET LOCAL pg_stat_statements.track_utility = 'off'", "SET LOCAL pgaudit.log = 'none'",
		} {
			if _, err := tx.Exec(ctx, set); err != nil {
				return fmt.Errorf("ensure role %s: %w", name, err)
			}
		}
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)", name).Scan(&exists); err != nil {
			return fmt.Errorf("ensure role %s: %w", name, err)
		}
		verb := "CREATE"
		if exists {
			verb = "ALTER"
		}
		stmt := verb + " ROLE " + ident
		if len(opts) > 0 {
			stmt += " WITH " + strings.Join(opts, " ")
		}
		// Simple protocol: DDL cannot take bind parameters anyway.
		if _, err := tx.Exec(ctx, stmt, pgx.QueryExecModeSimpleProtocol); err != nil {
			// The error text never contains the statement, only PostgreSQL's message.
			return fmt.Errorf("ensure role %s: %s role: %w", name, strings.ToLower(verb), err)
		}
		return nil
	})
}

// GrantRewind gives a non-superuser rewind role the functions pg_rewind
// needs (E.13).
func (c *Conn) GrantRewind(ctx context.Context, role string) error {
	ident := pgx.Identifier{role}.Sanitize()
	for _, fn := range []string{
		"pg_catalog.pg_ls_dir(text, boolean, boolean)", "pg_catalog.pg_stat_file(text, boolean)",
		"pg_catalog.pg_read_binary_file(text)", "pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)",
	} {
		if _, err := c.c.Exec(ctx, "GRANT EXECUTE ON FUNCTION "+fn+" TO "+ident); err != nil {
			return fmt.Errorf("grant %s to %s: %w", fn, role, err)
		}
	}
	return nil
}

// Checkpoint runs CHECKPOINT without the session's statement timeout, which
// a checkpoint after promotion easily exceeds.
func (c *Conn) Checkpoint(ctx context.Context) error {
	return pgx.BeginFunc(ctx, c.c, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = 0"); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		if _, err := tx.Exec(ctx, "CHECKPOINT"); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		return nil
	})
}

// Reload asks the postmaster to re-read its configuration.
func (c *Conn) Reload(ctx context.Context) error {
	if _, err := c.c.Exec(ctx, "SELECT pg_catalog.pg_reload_conf()"); err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	return nil
}

// ReadTimelineHistory returns pg_wal/<tli>.history from the server (needs
// superuser or the rewind grants).
func (c *Conn) ReadTimelineHistory(ctx context.Context, tli int) ([]byte, error) {
	var b []byte
	path := fmt.Sprintf("pg_wal/%08X.history", tli)
	if err := c.c.QueryRow(ctx, "SELECT pg_catalog.pg_read_binary_file($1)", path).Scan(&b); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

// ErrNotPrimary reports a leader that is still in recovery.
var ErrNotPrimary = errors.New("server is in recovery")

// Timeline returns the primary's current timeline and fails with ErrNotPrimary
// on a standby.
func (c *Conn) Timeline(ctx context.Context) (int, error) {
	var inRecovery bool
	var tli int
	// pg_walfile_name uses the insert timeline, which changes the moment promotion ends;
	// pg_control_checkpoint() would lag until the post-promote checkpoint.
	err := c.c.QueryRow(ctx, `SELECT pg_catalog.pg_is_in_recovery(),
  CASE WHEN pg_catalog.pg_is_in_recovery() THEN 0
       ELSE ('x' || substr(pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn()), 1, 8))::bit(32)::int END`).Scan(&inRecovery, &tli)
	if err != nil {
		return 0, fmt.Errorf("timeline: %w", err)
	}
	if inRecovery {
		return 0, fmt.Errorf("timeline: %w", ErrNotPrimary)
	}
	return tli, nil
}

// quoteLiteral quotes s as PostgreSQL's quote_literal does: quotes doubled,
// and with backslashes present the E” form with them doubled, which reads
// the same whatever standard_conforming_strings is.
func quoteLiteral(s string) string {
	q := strings.ReplaceAll(s, "'", "''")
	if strings.Contains(s, `\`) {
		return "E'" + strings.ReplaceAll(q, `\`, `\\`) + "'"
	}
	return "'" + q + "'"
}

// Setting returns current_setting(name).
func (c *Conn) Setting(ctx context.Context, name string) (string, error) {
	var v string
	if err := c.c.QueryRow(ctx, "SELECT pg_catalog.current_setting($1)", name).Scan(&v); err != nil {
		return "", fmt.Errorf("current_setting(%s): %w", name, err)
	}
	return v, nil
}
