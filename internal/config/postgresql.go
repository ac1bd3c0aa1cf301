package config

import (
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/warden-ha/warden/internal/callbacks"
)

// authKeys are the libpq options Patroni keeps for each role (A.8).
var authKeys = []string{"username", "password", "sslmode", "sslcert", "sslkey", "sslpassword",
	"sslrootcert", "sslcrl", "sslcrldir", "gssencmode", "channel_binding"}

var callbackNames = []string{"on_start", "on_stop", "on_restart", "on_reload", "on_role_change"}

var binNames = []string{"pg_ctl", "initdb", "pg_controldata", "pg_basebackup", "postgres", "pg_isready", "pg_rewind"}

// basebackupForbidden are options Warden sets itself (A.8).
var basebackupForbidden = map[string]bool{"pgdata": true, "format": true, "wal-method": true, "xlog-method": true,
	"gzip": true, "version": true, "compress": true, "dbname": true, "host": true, "port": true,
	"username": true, "password": true}

func decodePostgreSQL(top *section, env map[string]string) PostgreSQL {
	if !top.has("postgresql") {
		top.d.fail("postgresql", "required section is missing")
	}
	s := top.sub("postgresql")
	pg := PostgreSQL{Port: 5432, PgCtlTimeout: 60 * time.Second}
	decodeListen(s, &pg)
	decodeConnect(s, &pg)
	pg.ProxyAddress = s.str("proxy_address")
	pg.DataDir = absPath(required(s, "data_dir"))
	pg.ConfigDir = absPath(s.str("config_dir"))
	if pg.ConfigDir == "" {
		pg.ConfigDir = pg.DataDir
	}
	pg.BinDir = s.str("bin_dir")
	pg.BinName = decodeBinName(s.sub("bin_name"))
	pg.PGPass = s.str("pgpass")
	if pg.PGPass == "" {
		pg.PGPass = "~/pgpass"
	}
	pg.PGPass = expandHome(pg.PGPass, env)
	decodeAuthentication(s, &pg)

	pg.Parameters = parameters(s, "parameters", true)
	pg.PgHBA = s.strList("pg_hba")
	pg.PgIdent = s.strList("pg_ident")
	pg.UsePgRewind = s.optBool("use_pg_rewind")
	pg.PgCtlTimeout = s.seconds("pg_ctl_timeout", pg.PgCtlTimeout)
	pg.Callbacks = decodeCallbacks(s)
	pg.PrePromote = command(s, "pre_promote")
	pg.BeforeStop = command(s, "before_stop")
	decodeReplicaMethods(s, &pg)
	pg.RemoveDataDirectoryOnRewindFailure = s.boolean("remove_data_directory_on_rewind_failure", false)
	pg.RemoveDataDirectoryOnDivergedTimelines = s.boolean("remove_data_directory_on_diverged_timelines", false)
	pg.UseUnixSocket = s.boolean("use_unix_socket", false)
	pg.UseUnixSocketRepl = s.boolean("use_unix_socket_repl", false)
	pg.RecoveryConf = s.rawMap("recovery_conf")
	pg.CustomConf = s.str("custom_conf")
	if s.has("use_slots") {
		s.d.warn(s.key("use_slots"), "ignored: use_slots is cluster-wide; set it in bootstrap.dcs.postgresql (or patronictl edit-config)")
	}
	s.unsupported("Kerberos is not supported", "krbsrvname")
	s.unsupported("the configuration file name is fixed", "config_base_name")
	decodeUnlistedReplicaMethods(s, &pg)
	s.done(map[string]string{
		"superuser":   "ignored: belongs under postgresql.authentication (as authentication.superuser)",
		"replication": "ignored: belongs under postgresql.authentication (as authentication.replication)",
		"rewind":      "ignored: belongs under postgresql.authentication (as authentication.rewind)",
	})
	return pg
}

// decodeListen splits "addr[,addr...]:port" like Patroni.
func decodeListen(s *section, pg *PostgreSQL) {
	pg.Listen = required(s, "listen")
	if pg.Listen == "" {
		return
	}
	host, port, hasPort, err := splitHostPort(pg.Listen)
	if err != nil {
		s.d.fail(s.key("listen"), "expected addresses:port such as 127.0.0.1,10.0.0.1:5432, got %q", pg.Listen)
		return
	}
	pg.ListenAddresses = host
	if hasPort {
		pg.Port = port
	}
}

func decodeConnect(s *section, pg *PostgreSQL) {
	pg.ConnectAddress = s.str("connect_address")
	if pg.ConnectAddress == "" {
		s.d.warn(s.key("connect_address"), "missing; replicas and clients cannot be told how to reach this node")
		return
	}
	host, port, hasPort, err := splitHostPort(pg.ConnectAddress)
	if err != nil || host == "" {
		s.d.fail(s.key("connect_address"), "expected host:port, got %q", pg.ConnectAddress)
		return
	}
	pg.ConnectHost, pg.ConnectPort = host, pg.Port
	if hasPort {
		pg.ConnectPort = port
	}
}

func decodeBinName(s *section) map[string]string {
	if len(s.m) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, b := range binNames {
		if v := s.str(b); v != "" {
			out[b] = v
		}
	}
	s.done(nil)
	return out
}

// decodeAuthentication reads the three roles. Without an authentication
// section Patroni still reads postgresql.superuser/replication (an old
// layout), so Warden does too.
func decodeAuthentication(s *section, pg *PostgreSQL) {
	parent := s
	if !s.has("authentication") {
		for _, k := range []string{"superuser", "replication"} {
			if s.has(k) {
				s.d.warn(s.key(k), "old layout: read as postgresql.authentication.%s", k)
			}
		}
	} else {
		parent = s.sub("authentication")
	}
	pg.Superuser = decodeAuth(parent.sub("superuser"))
	pg.Replication = decodeAuth(parent.sub("replication"))
	if parent.has("rewind") {
		pg.Rewind = decodeAuth(parent.sub("rewind"))
	}
	if pg.Superuser.Username == "" {
		pg.Superuser.Username = "postgres"
	}
	if pg.Rewind.Username == "" {
		pg.Rewind = pg.Superuser
	}
	if parent != s {
		parent.done(nil)
	}
}

func decodeAuth(s *section) Auth {
	a := Auth{
		Username:       s.str("username"),
		Password:       s.secret("password"),
		SSLMode:        choice(s, "sslmode", "disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
		SSLCert:        s.str("sslcert"),
		SSLKey:         s.str("sslkey"),
		SSLPassword:    s.secret("sslpassword"),
		SSLRootCert:    s.str("sslrootcert"),
		SSLCRL:         s.str("sslcrl"),
		SSLCRLDir:      s.str("sslcrldir"),
		GSSEncMode:     choice(s, "gssencmode", "disable", "prefer", "require"),
		ChannelBinding: choice(s, "channel_binding", "disable", "prefer", "require"),
	}
	if a.GSSEncMode == "require" {
		s.d.fail(s.key("gssencmode"), "require is not supported: Warden's own connections do not do GSSAPI encryption (use disable or prefer)")
	}
	s.done(nil)
	return a
}

// choice reads a libpq option that libpq would refuse with any other value.
func choice(s *section, k string, allowed ...string) string {
	v := s.str(k)
	if v != "" && !slices.Contains(allowed, v) {
		s.d.fail(s.key(k), "expected one of %s, got %q", strings.Join(allowed, ", "), v)
	}
	return v
}

func decodeCallbacks(s *section) map[string]string {
	cb := s.sub("callbacks")
	if len(cb.m) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, n := range callbackNames {
		if v := cb.str(n); v != "" {
			out[n] = v
		}
	}
	cb.done(nil)
	return out
}

func decodeReplicaMethods(s *section, pg *PostgreSQL) {
	pg.CreateReplicaMethods = s.strList("create_replica_methods")
	if pg.CreateReplicaMethods == nil {
		pg.CreateReplicaMethods = s.strList("create_replica_method")
	} else if s.has("create_replica_method") {
		s.d.warn(s.key("create_replica_method"), "ignored: create_replica_methods is also set and wins")
	}
	if len(pg.CreateReplicaMethods) == 0 {
		pg.CreateReplicaMethods = []string{"basebackup"}
	}
	pg.Basebackup = options(s, "basebackup", basebackupForbidden)
	for _, m := range pg.CreateReplicaMethods {
		if m == "basebackup" {
			continue
		}
		conf := s.rawMap(m)
		if conf == nil {
			if _, err := callbacks.Split(m); err != nil || m == "" {
				s.d.fail(s.key("create_replica_methods"), "replica method %q has no postgresql.%s section with a command and its name is no command", m, m)
			} else {
				s.d.warn(s.key("create_replica_methods"), "replica method %s has no postgresql.%s section: the command %s is run, as in Patroni", m, m, m)
			}
			continue
		}
		sub := s.sub(m)
		if sub.has("command") {
			command(sub, "command")
		}
		if pg.ReplicaMethods == nil {
			pg.ReplicaMethods = map[string]map[string]any{}
		}
		pg.ReplicaMethods[m] = conf
	}
}

// decodeUnlistedReplicaMethods keeps the other sections with a command, once every known
// key was read: standby_cluster.create_replica_methods in the dynamic configuration may
// name them.
func decodeUnlistedReplicaMethods(s *section, pg *PostgreSQL) {
	for _, k := range slices.Sorted(maps.Keys(s.m)) {
		conf, ok := s.m[k].(map[string]any)
		if !ok || s.asked[k] || conf["command"] == nil {
			continue
		}
		command(s.sub(k), "command")
		if pg.ReplicaMethods == nil {
			pg.ReplicaMethods = map[string]map[string]any{}
		}
		pg.ReplicaMethods[k] = conf
	}
}

// ReplicaMethodOptions are the options of postgresql.<method> that Warden acts on, read
// by Python's truth value as Patroni reads them.
type ReplicaMethodOptions struct {
	// NoParams: pass none of the standard arguments. NoLeader (or 3.0.2's no_master):
	// the method may run without a source member. KeepData: do not wipe the data
	// directory first.
	NoParams, NoLeader, KeepData bool
}

// ReplicaMethodOptions reads the options of the custom method name.
func (pg PostgreSQL) ReplicaMethodOptions(name string) ReplicaMethodOptions {
	c := pg.ReplicaMethods[name]
	return ReplicaMethodOptions{
		NoParams: truthy(c["no_params"]),
		NoLeader: truthy(c["no_leader"]) || truthy(c["no_master"]),
		KeepData: truthy(c["keep_data"]),
	}
}

// command reads a script's command line and checks that it splits into words the way
// Patroni's shlex.split does.
func command(s *section, k string) string {
	line := s.str(k)
	if line == "" {
		return ""
	}
	argv, err := callbacks.Split(line)
	if err == nil && len(argv) == 0 {
		s.d.fail(s.key(k), "empty command")
	} else if err != nil {
		s.d.fail(s.key(k), "%v", err)
	}
	return line
}

// absPath resolves a relative path against the working directory now, so
// later chdirs cannot change which data directory is used, and cleans it: with a
// trailing slash, "<data_dir>.failed" would name a directory inside data_dir.
func absPath(p string) string {
	if p == "" {
		return p
	}
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func expandHome(p string, env map[string]string) string {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p
	}
	home := env["HOME"]
	if home == "" {
		return p
	}
	return filepath.Join(home, strings.TrimPrefix(p, "~"))
}
