package cli

import (
	"github.com/warden-ha/warden/internal/agent/pgnode"
	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/config"
	"github.com/warden-ha/warden/internal/postgres/pgconf"
)

func auth(a config.Auth) pgnode.Auth {
	return pgnode.Auth{User: a.Username, Password: a.Password.Reveal(), SSL: pgconf.ClientSSL{
		SSLMode: a.SSLMode, SSLCert: a.SSLCert, SSLKey: a.SSLKey, SSLPassword: a.SSLPassword.Reveal(),
		SSLRootCert: a.SSLRootCert, SSLCRL: a.SSLCRL, SSLCRLDir: a.SSLCRLDir, GSSEncMode: a.GSSEncMode,
		ChannelBinding: a.ChannelBinding,
	}}
}

// pgnodeOptions maps the postgresql and bootstrap sections onto the node; dynamic
// returns the cluster's dynamic configuration in force.
func pgnodeOptions(cfg *config.Config, dynamic func() config.Dynamic) pgnode.Options {
	pg := cfg.PostgreSQL
	users := map[string]pgnode.UserSpec{}
	for name, u := range cfg.Bootstrap.Users {
		users[name] = pgnode.UserSpec{Password: u.Password.Reveal(), Options: u.Options}
	}
	var custom *pgnode.CustomBootstrap
	if m := cfg.Bootstrap.Custom; m != nil {
		custom = &pgnode.CustomBootstrap{Name: m.Name, Command: m.Command, NoParams: m.NoParams,
			KeepExistingRecoveryConf: m.KeepExistingRecoveryConf, RecoveryConf: m.RecoveryConf, Params: m.Params}
	}
	return pgnode.Options{
		Name: cfg.Name, Scope: cfg.Scope,
		DataDir: pg.DataDir, ConfigDir: pg.ConfigDir, BinDir: pg.BinDir, PGPass: pg.PGPass,
		ListenAddresses: pg.ListenAddresses, Port: pg.Port,
		Superuser: auth(pg.Superuser), Replication: auth(pg.Replication), Rewind: auth(pg.Rewind),
		UseUnixSocket: pg.UseUnixSocket, UseUnixSocketRepl: pg.UseUnixSocketRepl,
		LocalParameters: pg.Parameters, LocalPgHBA: pg.PgHBA, LocalPgIdent: pg.PgIdent, CustomConf: pg.CustomConf, RecoveryConf: pg.RecoveryConf,
		NoStream:    cluster.Truthy(cfg.Tags["nostream"]),
		UsePgRewind: pg.UsePgRewind,
		Dynamic: func() pgnode.Dynamic {
			d := dynamic()
			pd := pgnode.Dynamic{Parameters: d.Parameters, PgHBA: d.PgHBA, PgIdent: d.PgIdent, UsePgRewind: d.UsePgRewind, UseSlots: d.UseSlots, LogicalSlots: d.LogicalSlots(), TTL: d.TTL}
			if sb := d.Standby; sb != nil {
				pd.Standby = &pgnode.Standby{PrimarySlotName: sb.PrimarySlotName, RestoreCommand: sb.RestoreCommand,
					ArchiveCleanupCommand: sb.ArchiveCleanupCommand, RecoveryMinApplyDelay: sb.RecoveryMinApplyDelay,
					CreateReplicaMethods: sb.CreateReplicaMethods}
			}
			return pd
		},
		InitDB: cfg.Bootstrap.InitDB, BootstrapHBA: cfg.Bootstrap.PgHBA, Users: users, Basebackup: pg.Basebackup,
		Custom: custom, PostBootstrap: cfg.Bootstrap.PostBootstrap,
		ReplicaMethods: replicaMethods(pg), MethodSections: methodSections(pg), PrePromote: pg.PrePromote, BeforeStop: pg.BeforeStop,
		PgCtlTimeout:                           pg.PgCtlTimeout,
		RemoveDataDirectoryOnRewindFailure:     pg.RemoveDataDirectoryOnRewindFailure,
		RemoveDataDirectoryOnDivergedTimelines: pg.RemoveDataDirectoryOnDivergedTimelines,
	}
}

// replicaMethods lists create_replica_methods with their sections.
func replicaMethods(pg config.PostgreSQL) []pgnode.ReplicaMethod {
	out := make([]pgnode.ReplicaMethod, 0, len(pg.CreateReplicaMethods))
	for _, name := range pg.CreateReplicaMethods {
		out = append(out, replicaMethod(pg, name))
	}
	return out
}

// methodSections are all postgresql.<method> sections with a command, by name.
func methodSections(pg config.PostgreSQL) map[string]pgnode.ReplicaMethod {
	out := make(map[string]pgnode.ReplicaMethod, len(pg.ReplicaMethods))
	for name := range pg.ReplicaMethods {
		out[name] = replicaMethod(pg, name)
	}
	return out
}

func replicaMethod(pg config.PostgreSQL, name string) pgnode.ReplicaMethod {
	o := pg.ReplicaMethodOptions(name)
	return pgnode.ReplicaMethod{Name: name, Config: pg.ReplicaMethods[name], NoParams: o.NoParams, NoLeader: o.NoLeader, KeepData: o.KeepData}
}

// cloneWithoutLeader: some replica method may run while the cluster has no leader.
func cloneWithoutLeader(pg config.PostgreSQL) bool {
	for _, name := range pg.CreateReplicaMethods {
		if name != "basebackup" && pg.ReplicaMethodOptions(name).NoLeader {
			return true
		}
	}
	return false
}
