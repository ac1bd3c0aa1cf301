package pgnode

import (
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warden-ha/warden/internal/cluster"
	"github.com/warden-ha/warden/internal/ha"
	"github.com/warden-ha/warden/internal/postgres"
)

// TestStandbyClusterRecovery: the standby leader follows the remote with
// standby_cluster's slot (and target_session_attrs) and archive settings,
// recovery_min_apply_delay included; its replicas keep their own slot and get the
// archive settings but not the apply delay; without a standby cluster recovery_conf
// applies.
func TestStandbyClusterRecovery(t *testing.T) {
	dir := t.TempDir()
	dyn := Dynamic{UseSlots: true, Standby: &Standby{PrimarySlotName: "dr-site", RestoreCommand: "cp /arch/%f %p",
		ArchiveCleanupCommand: "pg_archivecleanup /arch %r", RecoveryMinApplyDelay: "5min"}}
	n := &Node{
		opts: Options{Name: "pg-1", Scope: "batman", DataDir: dir, PGPass: filepath.Join(dir, "pgpass"),
			Replication:  Auth{User: "replicator", Password: "secret"},
			RecoveryConf: map[string]any{"restore_command": "false", "recovery_min_apply_delay": "1s"},
			Dynamic:      func() Dynamic { return dyn }},
		log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		dir:   postgres.DataDir{Path: dir},
		major: 15,
	}
	remote := &cluster.Member{Name: ha.RemotePrefix + "10.0.0.9:5433/dr-site", ConnURL: "postgres://10.0.0.9:5433/postgres"}
	leader := &cluster.Member{Name: "pg-2", ConnURL: "postgres://10.0.0.2:5432/postgres"}
	recovery := func(m *cluster.Member) map[string]string {
		t.Helper()
		r, err := n.recoveryParams(n.merged(), m)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	r := recovery(remote)
	for k, want := range map[string]string{"primary_slot_name": "dr_site", "restore_command": "cp /arch/%f %p",
		"archive_cleanup_command": "pg_archivecleanup /arch %r", "recovery_min_apply_delay": "5min"} {
		if r[k] != want {
			t.Errorf("standby leader: %s = %q, want %q", k, r[k], want)
		}
	}
	for _, want := range []string{"host=10.0.0.9", "port=5433", "application_name=pg-1", "target_session_attrs=read-write"} {
		if !strings.Contains(r["primary_conninfo"], want) {
			t.Errorf("standby leader: primary_conninfo %q lacks %s", r["primary_conninfo"], want)
		}
	}

	dyn.Standby.PrimarySlotName = ""
	r = recovery(remote)
	if _, ok := r["primary_slot_name"]; ok || strings.Contains(r["primary_conninfo"], "target_session_attrs") {
		t.Errorf("standby leader without primary_slot_name: slot %q, conninfo %q", r["primary_slot_name"], r["primary_conninfo"])
	}

	r = recovery(leader)
	if r["primary_slot_name"] != "pg_1" || !strings.Contains(r["primary_conninfo"], "host=10.0.0.2") {
		t.Errorf("replica of the standby leader: slot %q, conninfo %q", r["primary_slot_name"], r["primary_conninfo"])
	}
	if r["restore_command"] != "cp /arch/%f %p" || r["recovery_min_apply_delay"] != "1s" {
		t.Errorf("replica: restore_command %q (want standby_cluster's), recovery_min_apply_delay %q (want recovery_conf's)", r["restore_command"], r["recovery_min_apply_delay"])
	}

	r = recovery(&cluster.Member{Name: ha.RemotePrefix + "archive"})
	if _, ok := r["primary_conninfo"]; ok || r["restore_command"] != "cp /arch/%f %p" {
		t.Errorf("archive-only standby leader: %v", r)
	}

	dyn.Standby = nil
	if r = recovery(leader); r["restore_command"] != "false" {
		t.Errorf("no standby cluster: restore_command %q, want recovery_conf's", r["restore_command"])
	}
}
