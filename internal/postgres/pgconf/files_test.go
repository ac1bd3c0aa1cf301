package pgconf

import (
	"strings"
	"testing"
)

func TestRenderPgpass(t *testing.T) {
	out, err := RenderPgpass([]PgpassEntry{
		{Host: "10.0.0.1,10.0.0.2", Port: "5432", User: "rep:l", Password: `p:a\ss`},
		{Host: "localhost", User: "postgres", Password: "x"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "10.0.0.1:5432:*:rep\\:l:p\\:a\\\\ss\n10.0.0.2:5432:*:rep\\:l:p\\:a\\\\ss\nlocalhost:*:*:postgres:x\n"
	if string(out) != want {
		t.Fatalf("got %q\nwant %q", out, want)
	}
	if _, err := RenderPgpass([]PgpassEntry{{Password: "a\nb"}}); err == nil {
		t.Fatal("newline in password accepted")
	}
}

func TestPrimaryConnInfo(t *testing.T) {
	tests := map[string]struct {
		in   ConnInfo
		want string
	}{
		"passfile wins over password": {
			ConnInfo{User: "rep", Password: "secret", PassFile: "/tmp/pgpass", Host: "h", Port: "5432", ApplicationName: "n1"},
			"user=rep passfile=/tmp/pgpass host=h port=5432 application_name=n1",
		},
		"password when no passfile": {
			ConnInfo{User: "rep", Password: "it's a \\ pw", Host: "h"},
			`user=rep password=it\'s\ a\ \\\ pw host=h`,
		},
		"replica defaults": {
			ReplicaConnInfo(ConnInfo{User: "rep", Host: "h", Port: "5432", TargetSessionAttrs: "read-write"}, "node 1", 15),
			`user=rep host=h port=5432 sslmode=prefer application_name=node\ 1 gssencmode=prefer channel_binding=prefer target_session_attrs=read-write`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := PrimaryConnInfo(tc.in); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestRenderHBA(t *testing.T) {
	got := string(RenderHBA([]string{"local all all trust", "host replication rep 127.0.0.1/32 md5"}))
	if !strings.HasPrefix(got, Header) || !strings.HasSuffix(got, "host replication rep 127.0.0.1/32 md5\n") {
		t.Fatalf("got %q", got)
	}
}

// FuzzPrimaryConnInfo checks every value survives libpq's unquoted-value
// lexing: backslash escapes the next character, white space ends a value.
func FuzzPrimaryConnInfo(f *testing.F) {
	f.Add("rep", `p'a ss\`, "host")
	f.Fuzz(func(t *testing.T, user, pass, host string) {
		if strings.ContainsRune(user+pass+host, 0) {
			return
		}
		s := PrimaryConnInfo(ConnInfo{User: user, Password: pass, Host: host})
		got := map[string]string{}
		for i := 0; i < len(s); {
			for i < len(s) && s[i] == ' ' {
				i++
			}
			eq := strings.IndexByte(s[i:], '=')
			if eq < 0 {
				t.Fatalf("no '=' in %q", s[i:])
			}
			key := s[i : i+eq]
			i += eq + 1
			var v strings.Builder
			for i < len(s) && !strings.ContainsRune(" \t\n\r\f\v", rune(s[i])) {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				v.WriteByte(s[i])
				i++
			}
			got[key] = v.String()
		}
		for k, want := range map[string]string{"user": user, "password": pass, "host": host} {
			if want != "" && got[k] != want {
				t.Fatalf("%s: got %q want %q from %q", k, got[k], want, s)
			}
		}
	})
}

func TestReplicaRecovery(t *testing.T) {
	r := ReplicaRecovery("host=h", "node_2", 15, map[string]string{"restore_command": "cp", "recovery_target_time": "x", "primary_slot_name": "evil"})
	want := map[string]string{
		"recovery_target_timeline": "latest", "primary_conninfo": "host=h", "primary_slot_name": "node_2", "restore_command": "cp",
		"recovery_target": "", "recovery_target_name": "", "recovery_target_time": "", "recovery_target_xid": "", "recovery_target_lsn": "",
	}
	if len(r) != len(want) {
		t.Fatalf("got %v", r)
	}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("%s = %q, want %q", k, r[k], v)
		}
	}
}

// The want strings are what Patroni 3.0.2's format_dsn renders for the same values.
func TestConnInfoPatroniGolden(t *testing.T) {
	ssl := ClientSSL{SSLMode: "verify-ca", SSLCert: "/etc/pki/my client.crt", SSLKey: "/etc/pki/o'brien.key",
		SSLPassword: `k\ey pw`, SSLRootCert: "/etc/pki/ca.crt", SSLCRL: "/etc/pki/ca.crl", SSLCRLDir: "/etc/pki/crl.d",
		GSSEncMode: "disable", ChannelBinding: "require"}
	for _, tc := range []struct {
		name string
		in   ConnInfo
		want string
	}{
		{"primary_conninfo", ReplicaConnInfo(ConnInfo{User: "rep user", PassFile: "/home/pg/pg pass", Host: "10.0.0.1", Port: "5432", ClientSSL: ssl}, "node-2", 15),
			`user=rep\ user passfile=/home/pg/pg\ pass host=10.0.0.1 port=5432 sslmode=verify-ca sslcert=/etc/pki/my\ client.crt sslkey=/etc/pki/o\'brien.key sslpassword=k\\ey\ pw sslrootcert=/etc/pki/ca.crt sslcrl=/etc/pki/ca.crl sslcrldir=/etc/pki/crl.d application_name=node-2 gssencmode=disable channel_binding=require`},
		{"pg_rewind source", ConnInfo{DBName: "postgres", User: "rewinder", Host: "10.0.0.1", Port: "5432", ClientSSL: ssl, TargetSessionAttrs: "read-write"},
			`dbname=postgres user=rewinder host=10.0.0.1 port=5432 sslmode=verify-ca sslcert=/etc/pki/my\ client.crt sslkey=/etc/pki/o\'brien.key sslpassword=k\\ey\ pw sslrootcert=/etc/pki/ca.crt sslcrl=/etc/pki/ca.crl sslcrldir=/etc/pki/crl.d gssencmode=disable channel_binding=require target_session_attrs=read-write`},
		{"post_bootstrap over a socket", ConnInfo{DBName: "postgres", User: "postgres", Host: "/var/run/postgresql", Port: "5432", ClientSSL: ClientSSL{SSLMode: "require"}},
			`dbname=postgres user=postgres host=/var/run/postgresql port=5432 sslmode=require`},
		{"post_bootstrap over the default socket", ConnInfo{DBName: "postgres", User: "postgres", Port: "5432", ClientSSL: ClientSSL{SSLMode: "require"}},
			`dbname=postgres user=postgres port=5432 sslmode=require`},
		{"defaults keep the user's options", ReplicaConnInfo(ConnInfo{User: "r", Host: "h", Port: "1", ClientSSL: ClientSSL{SSLMode: "verify-full", GSSEncMode: "disable"}}, "n", 13),
			`user=r host=h port=1 sslmode=verify-full application_name=n gssencmode=disable channel_binding=prefer`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := PrimaryConnInfo(tc.in); got != tc.want {
				t.Errorf("\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestConnInfoForMajor(t *testing.T) {
	all := ConnInfo{User: "u", Host: "h", TargetSessionAttrs: "read-write", ClientSSL: ClientSSL{SSLMode: "require",
		SSLPassword: "p", SSLCRLDir: "/d", GSSEncMode: "disable", ChannelBinding: "require"}}
	for major, want := range map[int]string{
		9:  "user=u host=h sslmode=require",
		12: "user=u host=h sslmode=require gssencmode=disable target_session_attrs=read-write",
		13: "user=u host=h sslmode=require sslpassword=p gssencmode=disable channel_binding=require target_session_attrs=read-write",
		14: "user=u host=h sslmode=require sslpassword=p sslcrldir=/d gssencmode=disable channel_binding=require target_session_attrs=read-write",
	} {
		if got := PrimaryConnInfo(all.ForMajor(major)); got != want {
			t.Errorf("PostgreSQL %d:\n got %s\nwant %s", major, got, want)
		}
	}
}

func TestLocalHost(t *testing.T) {
	for _, tc := range []struct {
		name, listen, dirs string
		set, socket        bool
		want               string
	}{
		{"tcp wildcard", "*", "", false, false, "127.0.0.1"},
		{"tcp loopback among others", "10.0.0.5, localhost", "", false, false, "127.0.0.1"},
		{"tcp first address", "10.0.0.5,10.0.0.6", "/tmp", true, false, "10.0.0.5"},
		{"socket: first absolute directory", "*", "@abstract, relative, /run/pg ,/tmp", true, true, "/run/pg"},
		{"socket: parameter unset means libpq's default", "*", "", false, true, ""},
		{"socket: set without an absolute entry falls back to tcp", "10.0.0.5", "", true, true, "10.0.0.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := LocalHost(tc.listen, tc.dirs, tc.set, tc.socket); got != tc.want {
				t.Errorf("LocalHost(%q, %q, %v, %v) = %q, want %q", tc.listen, tc.dirs, tc.set, tc.socket, got, tc.want)
			}
		})
	}
}
