package cluster

import (
	"maps"
	"testing"
)

// TestMemberPendingRestartReason: Patroni 3.3 writes pending_restart_reason next to
// pending_restart; it survives a round trip and is left out when empty.
func TestMemberPendingRestartReason(t *testing.T) {
	m := Member{State: "running", Role: RoleReplica, PendingRestart: true,
		PendingRestartReason: map[string]ParamChange{"shared_buffers": {OldValue: "16MB", NewValue: "32MB"}}}
	got := string(EncodeMember(m))
	want := `{"conn_url":"","api_url":"","state":"running","role":"replica","version":"","pending_restart":true,"pending_restart_reason":{"shared_buffers":{"old_value":"16MB","new_value":"32MB"}}}`
	if got != want {
		t.Fatalf("EncodeMember =\n%s\nwant\n%s", got, want)
	}
	back := DecodeMember("pg-1", []byte(got))
	if !back.PendingRestart || !maps.Equal(back.PendingRestartReason, m.PendingRestartReason) {
		t.Fatalf("DecodeMember = %+v", back)
	}
	if s := string(EncodeMember(Member{State: "running"})); s != `{"conn_url":"","api_url":"","state":"running","role":"","version":""}` {
		t.Fatalf("empty reason encoded: %s", s)
	}
}
