package pgconf

import (
	"maps"
	"testing"
)

func TestPlanRestore(t *testing.T) {
	tests := map[string]struct {
		conf  map[string]string
		keep  bool
		major int
		want  Restore
	}{
		"no recovery_conf: the script's settings are removed": {
			nil, false, 15, Restore{RemoveExisting: true, SanitizeAutoConf: true},
		},
		"no recovery_conf, keep_existing_recovery_conf: left alone": {
			nil, true, 15, Restore{},
		},
		"point in time: recovery.signal and the parameters": {
			map[string]string{"restore_command": "cp /a/%f %p", "Recovery_Target_Name": "before", "recovery_target_action": "promote"}, false, 15,
			Restore{Params: map[string]string{"restore_command": "cp /a/%f %p", "recovery_target_name": "before", "recovery_target_action": "promote"},
				Signal: "recovery.signal", RemoveExisting: true, SanitizeAutoConf: true},
		},
		"standby_mode on: standby.signal, standby_mode not written": {
			map[string]string{"standby_mode": "on", "restore_command": "x"}, true, 12,
			Restore{Params: map[string]string{"restore_command": "x"}, Signal: "standby.signal", RemoveExisting: true},
		},
		"pause_at_recovery_target false is recovery_target_action promote": {
			map[string]string{"pause_at_recovery_target": "false"}, false, 15,
			Restore{Params: map[string]string{"recovery_target_action": "promote"}, Signal: "recovery.signal", RemoveExisting: true, SanitizeAutoConf: true},
		},
		"an explicit recovery_target_action wins over pause_at_recovery_target": {
			map[string]string{"pause_at_recovery_target": "true", "recovery_target_action": "shutdown"}, false, 15,
			Restore{Params: map[string]string{"recovery_target_action": "shutdown"}, Signal: "recovery.signal", RemoveExisting: true, SanitizeAutoConf: true},
		},
		"before 12: recovery.conf keeps standby_mode, no signal": {
			map[string]string{"standby_mode": "off", "restore_command": "x"}, false, 11,
			Restore{Params: map[string]string{"standby_mode": "off", "restore_command": "x"}, RemoveExisting: true, SanitizeAutoConf: true},
		},
		"empty recovery_conf still means archive recovery": {
			map[string]string{}, false, 15, Restore{Params: map[string]string{}, Signal: "recovery.signal", RemoveExisting: true, SanitizeAutoConf: true},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got := PlanRestore(tt.conf, tt.keep, tt.major)
			if !maps.Equal(got.Params, tt.want.Params) || (got.Params == nil) != (tt.want.Params == nil) ||
				got.Signal != tt.want.Signal || got.RemoveExisting != tt.want.RemoveExisting || got.SanitizeAutoConf != tt.want.SanitizeAutoConf {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestPlanRestoreRendersInPostgresqlConf(t *testing.T) {
	r := PlanRestore(map[string]string{"restore_command": "cp '/arch/%f' %p", "recovery_target_action": "promote"}, false, 15)
	b, err := RenderConf(ConfParams{Parameters: map[string]string{"port": "5432"}, Major: 15, Recovery: r.Params})
	if err != nil {
		t.Fatal(err)
	}
	want := Header + "include 'postgresql.base.conf'\n\nport = '5432'\n\n# recovery.conf\nrecovery_target_action = 'promote'\nrestore_command = 'cp ''/arch/%f'' %p'\n"
	if string(b) != want {
		t.Errorf("got\n%s\nwant\n%s", b, want)
	}
}
