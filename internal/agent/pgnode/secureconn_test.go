package pgnode

import (
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/postgres"
	"github.com/warden-ha/warden/internal/postgres/pgconf"
)

func sslOf(role string) pgconf.ClientSSL {
	return pgconf.ClientSSL{SSLMode: "verify-ca", SSLCert: "/pki/" + role + ".crt", SSLKey: "/pki/" + role + ".key",
		SSLRootCert: "/pki/ca.crt", SSLPassword: role + "-keypw"}
}

func secureNode(t *testing.T, params map[string]any, socket, socketRepl bool) *Node {
	dir := t.TempDir()
	return &Node{
		opts: Options{Name: "pg 1", Scope: "batman", DataDir: dir, PGPass: filepath.Join(dir, "pgpass"),
			ListenAddresses: "*", Port: 5433,
			Superuser:       Auth{User: "postgres", Password: "su-pw", SSL: sslOf("postgres")},
			Replication:     Auth{User: "replicator", Password: "rep-pw", SSL: sslOf("replicator")},
			Rewind:          Auth{User: "rewind_user", Password: "rw-pw", SSL: sslOf("rewind_user")},
			LocalParameters: params, UseUnixSocket: socket, UseUnixSocketRepl: socketRepl,
			Dynamic: func() Dynamic { return Dynamic{UseSlots: true} }},
		log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		dir:   postgres.DataDir{Path: dir},
		major: 15,
	}
}

// TestRoleOptionsGoWhereTheRoleConnects: each role's client options go with that
// role's connections and no other's, in Patroni's rendering.
func TestRoleOptionsGoWhereTheRoleConnects(t *testing.T) {
	n := secureNode(t, nil, false, false)
	leader := cluster.Member{Name: "pg-2", ConnURL: "postgres://10.0.0.2:5432/postgres"}

	r, err := n.recoveryParams(n.merged(), &leader)
	if err != nil {
		t.Fatal(err)
	}
	want := `user=replicator passfile=` + n.opts.PGPass + ` host=10.0.0.2 port=5432 sslmode=verify-ca sslcert=/pki/replicator.crt sslkey=/pki/replicator.key sslpassword=replicator-keypw sslrootcert=/pki/ca.crt application_name=pg\ 1 gssencmode=prefer channel_binding=prefer`
	if r["primary_conninfo"] != want {
		t.Errorf("primary_conninfo\n got %s\nwant %s", r["primary_conninfo"], want)
	}
	n.opts.Replication.Password = ""
	if r, _ = n.recoveryParams(n.merged(), &leader); strings.Contains(r["primary_conninfo"], "passfile") {
		t.Errorf("no replication password: primary_conninfo %q names a passfile (Patroni does not)", r["primary_conninfo"])
	}

	if got, want := rewindDSN(n.opts.Rewind, "10.0.0.2", 5432, 15), `dbname=postgres user=rewind_user host=10.0.0.2 port=5432 sslmode=verify-ca sslcert=/pki/rewind_user.crt sslkey=/pki/rewind_user.key sslpassword=rewind_user-keypw sslrootcert=/pki/ca.crt target_session_attrs=read-write`; got != want {
		t.Errorf("pg_rewind source\n got %s\nwant %s", got, want)
	}
	dsn, err := n.replicationDSN(leader)
	if want := `dbname=postgres user=replicator host=10.0.0.2 port=5432 sslmode=verify-ca sslcert=/pki/replicator.crt sslkey=/pki/replicator.key sslpassword=replicator-keypw sslrootcert=/pki/ca.crt`; err != nil || dsn != want {
		t.Errorf("pg_basebackup / replica method connstring\n got %s (%v)\nwant %s", dsn, err, want)
	}
	if p := n.opts.Superuser.at("10.0.0.2", 5432); p.SSL != sslOf("postgres") || p.User != "postgres" {
		t.Errorf("peer connection as the superuser: %+v", p)
	}
	if got := postBootstrapDSN(n.localConnParams(), 15); got != `dbname=postgres user=postgres host=127.0.0.1 port=5433 sslmode=verify-ca sslcert=/pki/postgres.crt sslkey=/pki/postgres.key sslpassword=postgres-keypw sslrootcert=/pki/ca.crt` {
		t.Errorf("post_bootstrap DSN %s", got)
	}
}

// TestLocalConnections: use_unix_socket moves the superuser's local connections to
// the first unix_socket_directories entry, use_unix_socket_repl the replication
// role's; each keeps its own options.
func TestLocalConnections(t *testing.T) {
	for _, tc := range []struct {
		name               string
		params             map[string]any
		socket, socketRepl bool
		local, repl        string
	}{
		{"tcp", map[string]any{"unix_socket_directories": "/run/pg"}, false, false, "127.0.0.1", "127.0.0.1"},
		{"superuser over the socket", map[string]any{"unix_socket_directories": "/run/pg, /tmp"}, true, false, "/run/pg", "127.0.0.1"},
		{"both over the socket", map[string]any{"unix_socket_directories": "/run/pg"}, true, true, "/run/pg", "/run/pg"},
		{"default socket directory", nil, true, true, "", ""},
		{"set without an absolute entry", map[string]any{"unix_socket_directories": ""}, true, false, "127.0.0.1", "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := secureNode(t, tc.params, tc.socket, tc.socketRepl)
			local, repl := n.localConnParams(), n.localReplicationParams()
			if local.Host != tc.local || local.User != "postgres" || local.SSL != sslOf("postgres") || local.Port != 5433 {
				t.Errorf("local: %+v, want host %q as postgres", local, tc.local)
			}
			if repl.Host != tc.repl || repl.User != "replicator" || repl.SSL != sslOf("replicator") {
				t.Errorf("local replication: %+v, want host %q as replicator", repl, tc.repl)
			}
			if ready := n.readyConnString(); strings.Contains(ready, "pw") || strings.Contains(ready, "sslmode") {
				t.Errorf("ready probe %q: carries credentials", ready)
			}
		})
	}
}

func TestSecretsHidden(t *testing.T) {
	n := secureNode(t, nil, false, false)
	for _, s := range []string{"su-pw", "rep-pw", "rw-pw", "postgres-keypw", "replicator-keypw", "rewind_user-keypw"} {
		if !slices.Contains(n.secrets(), s) {
			t.Errorf("secrets() lacks %s", s)
		}
	}
	shown := hideAll([]string{"--connstring=user=r sslpassword=replicator-keypw"}, n.secrets())
	if shown[0] != "--connstring=user=r sslpassword=***" {
		t.Errorf("hideAll: %q", shown)
	}
}
