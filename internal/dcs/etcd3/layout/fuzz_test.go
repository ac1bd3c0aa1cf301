package layout

import (
	"bytes"
	"strings"
	"testing"

	"github.com/warden-ha/warden/internal/cluster"
)

// FuzzDecode feeds a whole cluster prefix of keys written by someone else: lines of
// "key\tvalue" with any bytes in them. Decode must not panic, and the snapshot must keep
// its shape: one member per well-formed members/<name> key, a leader only with a name,
// and a config map whenever the config key exists, so one garbage key cannot blind a node.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("leader\tpg-1\nmembers/pg-1\t{\"conn_url\":\"postgres://127.0.0.1:5432/postgres\",\"api_url\":\"http://127.0.0.1:8008/patroni\",\"state\":\"running\",\"role\":\"primary\",\"xlog_location\":67108864,\"timeline\":1}\n" +
		"members/pg-2\t{\"conn_url\":\"postgres://127.0.0.1:5433/postgres\",\"role\":\"replica\",\"tags\":{\"nofailover\":true}}\n" +
		"config\t{\"ttl\":30,\"loop_wait\":10,\"retry_timeout\":10,\"postgresql\":{\"use_pg_rewind\":true}}\n" +
		"initialize\t7234567890123456789\nstatus\t{\"optime\":67108864,\"slots\":{\"pg_2\":67108864}}\n" +
		"failover\t{\"leader\":\"pg-1\",\"member\":\"pg-2\",\"scheduled_at\":\"2099-01-01T00:00:00+00:00\"}\n" +
		"sync\t{\"leader\":\"pg-1\",\"sync_standby\":\"pg-2\"}\nhistory\t[[1,25165984,\"no recovery target specified\",\"2024-01-01T00:00:00+00:00\",\"pg-1\"]]\n" +
		"failsafe\t{\"pg-1\":\"http://127.0.0.1:8008/patroni\"}\noptime/leader\t67108864"))
	f.Add([]byte("members/a\t\x00{not json\nconfig\t[]\nstatus\tnull\nfailover\tpg-1:pg-2\nsync\t{\"sync_standby\":5}\nhistory\t{}\nfailsafe\t[1]"))
	f.Add([]byte("leader\t\nmembers/\tx\nmembers/a/b\t{}\nmembers/a\tpostgres://h:1/postgres?application_name=x\nmembers/a\t{}"))
	f.Add([]byte("history\t[[1],[\"x\",\"y\"],[1e400,-1,null]]\nstatus\t{\"optime\":-1,\"retain_slots\":[1,{}]}\nconfig\t{\"ttl\":\"x\",\"postgresql\":[1]}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var kvs []KV
		wantMembers, hasConfig, leaderName := 0, false, ""
		for i, line := range bytes.Split(b, []byte("\n")) {
			key, value, _ := bytes.Cut(line, []byte("\t"))
			kv := KV{Key: string(key), Value: value, CreateRevision: int64(i), ModRevision: int64(i + 1), Lease: int64(i)}
			kvs = append(kvs, kv)
			switch name, isMember := strings.CutPrefix(kv.Key, MembersDir); {
			case isMember && name != "" && !strings.Contains(name, "/"):
				wantMembers++
			case kv.Key == Config:
				hasConfig = true
			case kv.Key == Leader:
				leaderName = string(value)
			}
		}
		c := Decode(kvs, 42)
		if len(c.Members) != wantMembers {
			t.Fatalf("%d members decoded, want %d", len(c.Members), wantMembers)
		}
		if hasConfig && c.Config == nil {
			t.Fatal("config key present but no config map")
		}
		if c.LeaderName() != leaderName {
			t.Fatalf("leader %q, want %q", c.LeaderName(), leaderName)
		}
		for _, m := range c.Members {
			if m.Name == "" || strings.Contains(m.Name, "/") {
				t.Fatalf("member name %q", m.Name)
			}
			_, _ = m.HostPort()
			_ = cluster.EncodeMember(m)
			if _, ok := c.Member(m.Name); !ok {
				t.Fatalf("member %q not found by name", m.Name)
			}
		}
		_ = cluster.EncodeFailover(c.Failover)
		_ = c.Failover.Empty()
		if c.Config != nil {
			_ = cluster.EncodeConfig(c.Config)
		}
	})
}
