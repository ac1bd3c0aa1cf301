package cluster

import (
	"testing"
)

func TestMemberRoundTripAndPatroniForm(t *testing.T) {
	wal := uint64(67108960)
	m := Member{Name: "pg-1", ConnURL: "postgres://127.0.0.1:5432/postgres", APIURL: "http://127.0.0.1:8008/patroni",
		State: "running", Role: RolePrimary, Version: Version, XLogLocation: &wal, Timeline: 2, Tags: map[string]any{"nofailover": true}}
	got := string(EncodeMember(m))
	want := `{"conn_url":"postgres://127.0.0.1:5432/postgres","api_url":"http://127.0.0.1:8008/patroni","state":"running","role":"primary","version":"3.0.2","xlog_location":67108960,"timeline":2,"tags":{"nofailover":true}}`
	if got != want {
		t.Fatalf("EncodeMember =\n%s\nwant\n%s", got, want)
	}
	back := DecodeMember("pg-1", []byte(got))
	if back.WAL() != wal || back.Timeline != 2 || !back.NoFailover() || back.Role != RolePrimary {
		t.Fatalf("DecodeMember = %+v", back)
	}
	if h, p := back.HostPort(); h != "127.0.0.1" || p != 5432 {
		t.Fatalf("HostPort = %s %d", h, p)
	}
}

func TestDecodeAcceptsPatroni3AndGarbage(t *testing.T) {
	m := DecodeMember("a", []byte(`{"role":"master","xlog_location":"123","timeline":"x"}`))
	if m.Role != RolePrimary || m.WAL() != 123 || m.Timeline != 0 {
		t.Errorf("Patroni 3 member = %+v", m)
	}
	for _, garbage := range []string{``, `{`, `[]`, `null`, `{"tags":5,"xlog_location":-1}`} {
		if m := DecodeMember("b", []byte(garbage)); m.Name != "b" {
			t.Errorf("garbage %q lost the name", garbage)
		}
	}
	if s := DecodeStatus([]byte("4567")); s.Optime != 4567 {
		t.Errorf("legacy optime/leader = %d", s.Optime)
	}
	if f := DecodeFailover([]byte("pg-1:pg-2")); f.Leader != "pg-1" || f.Candidate != "pg-2" {
		t.Errorf("legacy failover = %+v", f)
	}
	if !DecodeFailover([]byte("{}")).Empty() {
		t.Error("{} is not an empty failover")
	}
}

func TestHistoryAndTimeline(t *testing.T) {
	h := []HistoryEntry{{Timeline: 1, LSN: 83886240, Reason: "no recovery target specified", Timestamp: "2026-11-21T12:00:00+00:00", NewLeader: "pg-2"}}
	got := string(EncodeHistory(h))
	want := `[[1,83886240,"no recovery target specified","2026-11-21T12:00:00+00:00","pg-2"]]`
	if got != want {
		t.Fatalf("EncodeHistory = %s, want %s", got, want)
	}
	c := &Cluster{History: DecodeHistory([]byte(got)), HasHistory: true}
	if c.Timeline() != 2 {
		t.Errorf("Timeline = %d, want 2", c.Timeline())
	}
	if (&Cluster{HasHistory: true, History: []HistoryEntry{}}).Timeline() != 1 || (&Cluster{}).Timeline() != 0 {
		t.Error("[] must mean timeline 1 and a missing key 0")
	}
}

func TestSlotNameAndLSN(t *testing.T) {
	for in, want := range map[string]string{"pg-1": "pg_1", "Node.A": "node_a", "é": "u0233"} {
		if got := SlotName(in); got != want {
			t.Errorf("SlotName(%q) = %q, want %q", in, got, want)
		}
	}
	lsn, err := ParseLSN("16/B374D848")
	if err != nil || FormatLSN(lsn) != "16/B374D848" {
		t.Errorf("LSN round trip: %v %s", err, FormatLSN(lsn))
	}
	if _, err := ParseLSN("nope"); err == nil {
		t.Error("ParseLSN accepted garbage")
	}
}

func FuzzDecodeMember(f *testing.F) {
	f.Add([]byte(`{"conn_url":"postgres://h:1/postgres","xlog_location":1,"tags":{"a":1}}`))
	f.Add([]byte(`postgres://h:5432/postgres?application_name=http://h:8008/patroni`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m := DecodeMember("x", b)
		_ = EncodeMember(m)
		_, _ = m.HostPort()
		_ = DecodeHistory(b)
		_ = DecodeStatus(b)
		_ = DecodeSync(b)
		_ = DecodeFailover(b)
	})
}
