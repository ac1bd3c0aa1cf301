package config

import (
	"maps"
	"testing"
)

func TestBootstrapMethod(t *testing.T) {
	cfg, warns := mustLoad(t, writeFile(t, baseConfig+`bootstrap:
  method: pgbackrest
  pgbackrest:
    command: "/usr/bin/pgbackrest --stanza=main --delta restore"
    keep_existing_recovery_conf: true
    no_params: yes
    recovery_conf:
      restore_command: pgbackrest --stanza=main archive-get %f "%p"
      recovery_target_action: promote
      recovery_target_timeline: latest
    test-argument: x
    retries: 3
    scope: other
    targets: [a, b]
  post_bootstrap: /usr/local/bin/setup.sh
  post_init: /bin/false
`))
	m := cfg.Bootstrap.Custom
	if m == nil {
		t.Fatal("Custom = nil")
	}
	want := map[string]string{"restore_command": `pgbackrest --stanza=main archive-get %f "%p"`, "recovery_target_action": "promote", "recovery_target_timeline": "latest"}
	if m.Name != "pgbackrest" || m.Command != "/usr/bin/pgbackrest --stanza=main --delta restore" || !m.NoParams || !m.KeepExistingRecoveryConf || !maps.Equal(m.RecoveryConf, want) {
		t.Errorf("Custom = %+v", m)
	}
	if cfg.Bootstrap.PostBootstrap != "/usr/local/bin/setup.sh" {
		t.Errorf("PostBootstrap = %q", cfg.Bootstrap.PostBootstrap)
	}
	wantWarning(t, warns, "bootstrap.post_init", 0, "post_bootstrap is also set and wins")
	if !maps.Equal(m.Params, map[string]any{"test-argument": "x", "retries": 3}) {
		t.Errorf("Params = %v, want the section's other keys", m.Params)
	}
	wantWarning(t, warns, "bootstrap.pgbackrest.scope", 0, "--scope=<scope> is passed by Warden")
	wantWarning(t, warns, "bootstrap.pgbackrest.targets", 0, "expected a single value for --targets=...")
}

func TestBootstrapMethodWithoutCommand(t *testing.T) {
	cfg, warns := mustLoad(t, writeFile(t, baseConfig+`bootstrap:
  method: restore
  restore:
    no_params: true
`))
	if cfg.Bootstrap.Custom != nil || cfg.Bootstrap.Method != "" {
		t.Errorf("a method without a command is used: %+v", cfg.Bootstrap.Custom)
	}
	wantWarning(t, warns, "bootstrap.method", 0, "initdb is used")
}

func TestBootstrapMethodEmptyRecoveryConf(t *testing.T) {
	cfg, _ := mustLoad(t, writeFile(t, baseConfig+`bootstrap:
  method: restore
  restore:
    command: /bin/restore
    recovery_conf: {}
`))
	if m := cfg.Bootstrap.Custom; m == nil || m.RecoveryConf == nil || m.NoParams {
		t.Errorf("recovery_conf: {} must read as set and empty: %+v", m)
	}
}
