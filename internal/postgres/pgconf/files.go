package pgconf

import (
	"bytes"
	"fmt"
	"strings"
)

// RenderHBA renders pg_hba.conf (or pg_ident.conf) from configured lines,
// after the same two-line header as postgresql.conf.
func RenderHBA(lines []string) []byte {
	var b bytes.Buffer
	b.WriteString(Header)
	for _, l := range lines {
		// A line cannot span lines in pg_hba.conf; splitting keeps each
		// physical line what the operator wrote.
		for _, part := range strings.Split(l, "\n") {
			b.WriteString(strings.TrimRight(part, "\r"))
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// PgpassEntry is one credential for the password file. Empty fields are
// written as "*". Host may be a comma-separated list (one line per host).
type PgpassEntry struct {
	Host     string
	Port     string
	User     string
	Password string
}

// RenderPgpass renders a libpq password file: host:port:*:user:password
// with ':' and '\' escaped by a backslash. A newline cannot be represented,
// so a field containing one is refused.
func RenderPgpass(entries []PgpassEntry) ([]byte, error) {
	var b bytes.Buffer
	for _, e := range entries {
		for name, v := range map[string]string{"host": e.Host, "port": e.Port, "user": e.User, "password": e.Password} {
			if strings.ContainsAny(v, "\n\r\x00") {
				return nil, fmt.Errorf("pgpass %s contains a newline or NUL", name)
			}
		}
		rest := fmt.Sprintf(":%s:*:%s:%s\n", pgpassField(e.Port), pgpassField(e.User), pgpassField(e.Password))
		for _, h := range strings.Split(e.Host, ",") {
			b.WriteString(pgpassField(strings.TrimSpace(h)))
			b.WriteString(rest)
		}
	}
	return b.Bytes(), nil
}

func pgpassField(v string) string {
	if v == "" {
		return "*"
	}
	return strings.NewReplacer(`\`, `\\`, `:`, `\:`).Replace(v)
}

// ClientSSL are a role's client-side libpq security options
// (postgresql.authentication.<role>.sslmode, ...); empty fields are left out.
type ClientSSL struct {
	SSLMode        string
	SSLCert        string
	SSLKey         string
	SSLPassword    string
	SSLRootCert    string
	SSLCRL         string
	SSLCRLDir      string
	GSSEncMode     string
	ChannelBinding string
}

// ConnInfo is a libpq connection for primary_conninfo or a tool's DSN.
// Password is only written when PassFile is empty; prefer PassFile.
type ConnInfo struct {
	DBName   string
	User     string
	PassFile string
	Password string
	Host     string
	Port     string
	ClientSSL
	SSLCompression     string
	ApplicationName    string
	KrbSrvName         string
	TargetSessionAttrs string
}

// ForMajor leaves out the options the libpq of an older PostgreSQL rejects as unknown
// keywords, as Patroni 4 does: target_session_attrs before 10, gssencmode before 12,
// sslpassword and channel_binding before 13, sslcrldir before 14.
func (c ConnInfo) ForMajor(major int) ConnInfo {
	for _, k := range []struct {
		field *string
		since int
	}{{&c.TargetSessionAttrs, 10}, {&c.GSSEncMode, 12}, {&c.SSLPassword, 13}, {&c.ChannelBinding, 13}, {&c.SSLCRLDir, 14}} {
		if major < k.since {
			*k.field = ""
		}
	}
	return c
}

// ReplicaConnInfo fills Patroni's defaults for a replica following a member
// (A.14): sslmode=prefer, gssencmode=prefer on PG12+, channel_binding=prefer on
// PG13+, and application_name = our member name.
func ReplicaConnInfo(c ConnInfo, memberName string, major int) ConnInfo {
	if c.SSLMode == "" {
		c.SSLMode = "prefer"
	}
	if c.GSSEncMode == "" && major >= 12 {
		c.GSSEncMode = "prefer"
	}
	if c.ChannelBinding == "" && major >= 13 {
		c.ChannelBinding = "prefer"
	}
	c.ApplicationName = memberName
	return c.ForMajor(major)
}

// PrimaryConnInfo renders c as a space-separated key=value conninfo in
// Patroni's keyword order, escaping quotes, backslashes and white space with
// a backslash.
func PrimaryConnInfo(c ConnInfo) string {
	pass := [2]string{"passfile", c.PassFile}
	if c.PassFile == "" {
		pass = [2]string{"password", c.Password}
	}
	kv := [][2]string{
		{"dbname", c.DBName}, {"user", c.User}, pass, {"host", c.Host}, {"port", c.Port},
		{"sslmode", c.SSLMode}, {"sslcompression", c.SSLCompression}, {"sslcert", c.SSLCert},
		{"sslkey", c.SSLKey}, {"sslpassword", c.SSLPassword}, {"sslrootcert", c.SSLRootCert},
		{"sslcrl", c.SSLCRL}, {"sslcrldir", c.SSLCRLDir}, {"application_name", c.ApplicationName},
		{"krbsrvname", c.KrbSrvName}, {"gssencmode", c.GSSEncMode}, {"channel_binding", c.ChannelBinding},
		{"target_session_attrs", c.TargetSessionAttrs},
	}
	parts := make([]string, 0, len(kv))
	for _, p := range kv {
		if p[1] != "" {
			parts = append(parts, p[0]+"="+escapeConnValue(p[1]))
		}
	}
	return strings.Join(parts, " ")
}

func escapeConnValue(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\'', '\\', ' ', '\t', '\n', '\r', '\f', '\v':
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// ReplicaRecovery builds the recovery parameters for a replica (A.14):
// recovery_target_timeline='latest', primary_conninfo and primary_slot_name
// when given, extra (restore_command, ...) from recovery_conf; on PG12+ the
// recovery_target* settings are emptied so an included file cannot pause,
// promote or shut down the standby; before 12 standby_mode=on.
func ReplicaRecovery(primaryConnInfo, slot string, major int, extra map[string]string) map[string]string {
	r := map[string]string{}
	for k, v := range extra {
		k = strings.ToLower(k)
		// The target settings, conninfo and slot are Warden's, not the user's.
		if strings.HasPrefix(k, "recovery_target") || k == "primary_conninfo" || k == "primary_slot_name" {
			continue
		}
		r[k] = v
	}
	r["recovery_target_timeline"] = "latest"
	if major >= 12 {
		for _, k := range []string{"recovery_target", "recovery_target_name", "recovery_target_time", "recovery_target_xid", "recovery_target_lsn"} {
			r[k] = ""
		}
	} else {
		r["standby_mode"] = "on"
	}
	if primaryConnInfo != "" {
		r["primary_conninfo"] = primaryConnInfo
		if slot != "" {
			r["primary_slot_name"] = slot
		}
	}
	return r
}

// LocalHost is where an agent reaches its own server, as Patroni resolves it: over TCP
// 127.0.0.1 when listen_addresses has a wildcard or loopback entry, else its first
// entry; with socket the first absolute unix_socket_directories entry, "" (libpq's
// default socket directory) when that parameter is unset, and TCP when it is set
// without an absolute entry.
func LocalHost(listenAddresses, socketDirs string, socketDirsSet, socket bool) string {
	if socket {
		if !socketDirsSet {
			return ""
		}
		for _, d := range strings.Split(socketDirs, ",") {
			if d = strings.TrimSpace(d); strings.HasPrefix(d, "/") {
				return d
			}
		}
	}
	addrs := strings.Split(listenAddresses, ",")
	for _, a := range addrs {
		switch strings.ToLower(strings.TrimSpace(a)) {
		case "", "*", "0.0.0.0", "::", "127.0.0.1", "localhost":
			return "127.0.0.1"
		}
	}
	return strings.TrimSpace(addrs[0])
}
