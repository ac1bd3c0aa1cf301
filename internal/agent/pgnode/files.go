package pgnode

import (
	"context"
	"fmt"
	"strconv"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/ha"
	"github.com/warden-ha/warden/internal/postgres"
	"github.com/warden-ha/warden/internal/postgres/pgconf"
)

// params computes the effective server parameters and logs what was dropped.
func (n *Node) params() pgconf.Merged {
	m := n.merged()
	for _, w := range m.Warnings {
		n.log.Warn(w)
	}
	return m
}

// merged computes the effective server parameters without logging.
func (n *Node) merged() pgconf.Merged {
	d := n.opts.Dynamic()
	m := pgconf.Merge(strParams(d.Parameters), strParams(localParams(n)), pgconf.ServerInputs{
		ListenAddresses: n.opts.ListenAddresses, Port: n.opts.Port, ClusterName: n.opts.Scope, Major: n.major,
	})
	if d.LogicalSlots {
		m.Parameters["hot_standby_feedback"] = "on"
	}
	n.mu.Lock()
	if n.syncNames != nil {
		// Synchronous mode owns the parameter.
		m.Parameters["synchronous_standby_names"] = *n.syncNames
	}
	n.mu.Unlock()
	dropUnsafe(&m)
	n.dropUnknown(m.Parameters, &m.Warnings)
	return m
}

// writeConfig writes postgresql.conf, pg_hba.conf, the pgpass file and the standby
// signal for the role: a replica of leader (standby, leader may be nil for "no upstream")
// or a primary. It reports whether anything changed.
func (n *Node) writeConfig(standby bool, leader *cluster.Member) (pgconf.Merged, bool, error) {
	m := n.params()
	var recovery map[string]string
	if standby {
		var err error
		if recovery, err = n.recoveryParams(m, leader); err != nil {
			return m, false, err
		}
		var warns []string
		n.dropUnknown(recovery, &warns)
		for _, w := range warns {
			n.log.Warn(w)
		}
	}
	include := pgconf.BaseConf
	if n.opts.CustomConf != "" {
		include = n.opts.CustomConf
	}
	hba, ident := n.authLines()
	changed, err := n.dir.WriteConfig(postgres.Config{
		Conf:       pgconf.ConfParams{Include: include, Parameters: m.Parameters, Major: n.major, Recovery: recovery},
		HBA:        hba,
		Ident:      ident,
		Standby:    standby,
		CustomConf: n.opts.CustomConf != "",
	})
	if err != nil {
		return m, false, fmt.Errorf("write configuration: %w", err)
	}
	if _, err := n.dir.SanitizeAutoConf(); err != nil {
		return m, changed, err
	}
	return m, changed, nil
}

// recoveryParams are a replica's recovery settings following leader (nil: no
// primary_conninfo). In a standby cluster restore_command and archive_cleanup_command
// come from standby_cluster; following the remote primary (the standby leader) the
// slot is standby_cluster.primary_slot_name (none when unset: Warden does not create it
// on the remote), with target_session_attrs=read-write then (Patroni 3.0.2), and
// recovery_min_apply_delay applies.
func (n *Node) recoveryParams(m pgconf.Merged, leader *cluster.Member) (map[string]string, error) {
	d := n.opts.Dynamic()
	remote := leader != nil && ha.IsRemote(leader.Name)
	conninfo, slot := "", ""
	if leader != nil && (!remote || leader.ConnURL != "") {
		host, port, err := memberAddress(*leader)
		if err != nil {
			return nil, err
		}
		if _, err := n.writePgpass(host, port); err != nil {
			return nil, err
		}
		ci := pgconf.ReplicaConnInfo(pgconf.ConnInfo{
			User: n.opts.Replication.User, Host: host, Port: strconv.Itoa(port), ClientSSL: n.opts.Replication.SSL,
		}, n.opts.Name, n.major)
		if n.opts.Replication.Password != "" {
			// Patroni names the passfile only when the role has a password.
			ci.PassFile = n.opts.PGPass
		}
		if n.major >= 17 && !remote {
			// PostgreSQL 17's slot synchronization (sync_replication_slots) connects to a
			// database through primary_conninfo; streaming ignores dbname.
			ci.DBName = "postgres"
		}
		switch {
		case !d.UseSlots:
		case !remote:
			slot = cluster.SlotName(n.opts.Name)
		case d.Standby != nil && d.Standby.PrimarySlotName != "":
			slot = cluster.SlotName(d.Standby.PrimarySlotName)
			if n.major >= 10 {
				ci.TargetSessionAttrs = "read-write"
			}
		}
		conninfo = pgconf.PrimaryConnInfo(ci)
	}
	extra := strParams(n.opts.RecoveryConf)
	for k, v := range m.Recovery {
		extra[k] = v
	}
	if sb := d.Standby; sb != nil {
		override := map[string]string{"restore_command": sb.RestoreCommand, "archive_cleanup_command": sb.ArchiveCleanupCommand}
		if remote {
			override["recovery_min_apply_delay"] = sb.RecoveryMinApplyDelay
		}
		for k, v := range override {
			if v != "" {
				extra[k] = v
			}
		}
	}
	return pgconf.ReplicaRecovery(conninfo, slot, n.major, extra), nil
}

// writePgpass writes the password file libpq tools use: replication credentials for the
// upstream and superuser/rewind credentials for any host (rewind and local checks).
func (n *Node) writePgpass(host string, port int) (bool, error) {
	p := strconv.Itoa(port)
	entries := []pgconf.PgpassEntry{
		{Host: host, Port: p, User: n.opts.Replication.User, Password: n.opts.Replication.Password},
		{Host: "*", Port: "*", User: n.opts.Rewind.User, Password: n.opts.Rewind.Password},
		{Host: "*", Port: "*", User: n.opts.Superuser.User, Password: n.opts.Superuser.Password},
	}
	return n.dir.WritePgpass(n.opts.PGPass, entries)
}

func localParams(n *Node) map[string]any {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.opts.LocalParameters
}

func localHBA(n *Node) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.opts.LocalPgHBA
}

// authLines are the lines of pg_hba.conf and pg_ident.conf: each from the local
// configuration when it sets them, else from the dynamic one; nil leaves the file alone.
func (n *Node) authLines() (hba, ident []string) {
	d := n.opts.Dynamic()
	n.mu.Lock()
	hba, ident = n.opts.LocalPgHBA, n.opts.LocalPgIdent
	n.mu.Unlock()
	if hba == nil {
		hba = d.PgHBA
	}
	if ident == nil {
		ident = d.PgIdent
	}
	return hba, ident
}

// Local is the node's own postgresql section as a configuration reload reads it.
type Local struct {
	Parameters map[string]any
	PgHBA      []string
	PgIdent    []string
}

// SetLocal replaces the locally configured parameters, pg_hba and pg_ident lines (a
// reload of the configuration file).
func (n *Node) SetLocal(l Local) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.opts.LocalParameters, n.opts.LocalPgHBA, n.opts.LocalPgIdent = l.Parameters, l.PgHBA, l.PgIdent
}

// ReloadConfig rewrites the configuration files for the role PostgreSQL runs in and
// asks the server to re-read them when anything changed.
func (n *Node) ReloadConfig(ctx context.Context) error {
	_, err := n.ApplyConfig(ctx, false, nil)
	return err
}

// SetSyncStandbyNames sets synchronous_standby_names for synchronous mode (release hands
// the parameter back to the configuration), rewrites postgresql.conf and reloads.
func (n *Node) SetSyncStandbyNames(ctx context.Context, value string, release bool) error {
	n.mu.Lock()
	if release {
		n.syncNames = nil
	} else {
		n.syncNames = &value
	}
	n.mu.Unlock()
	return n.ReloadConfig(ctx)
}
