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
