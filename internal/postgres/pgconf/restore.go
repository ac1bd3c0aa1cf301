package pgconf

import "strings"

// Restore is what becomes of the recovery settings in a data directory a custom
// bootstrap command restored, following Patroni's _custom_bootstrap and
// write_recovery_conf.
type Restore struct {
	// Params are written as recovery parameters: the "# recovery.conf" section of
	// postgresql.conf on PostgreSQL 12+, recovery.conf before. Nil: none.
	Params map[string]string
	// Signal is the file to create on PostgreSQL 12+: "recovery.signal" (archive
	// recovery, e.g. point-in-time), "standby.signal" (standby_mode on) or "".
	Signal string
	// RemoveExisting: delete recovery.conf, standby.signal and recovery.signal the
	// command left before anything is written.
	RemoveExisting bool
	// SanitizeAutoConf: drop recovery settings from postgresql.auto.conf (tools such
	// as pgBackRest write restore_command there).
	SanitizeAutoConf bool
}

// PlanRestore decides the recovery settings after a custom bootstrap: recoveryConf
// (nil when bootstrap.<method>.recovery_conf is not set) replaces whatever the command
// left; without it the command's own settings (signal files, recovery.conf,
// postgresql.auto.conf) are kept only when keepExisting, else removed so the server
// starts as a primary.
func PlanRestore(recoveryConf map[string]string, keepExisting bool, major int) Restore {
	r := Restore{SanitizeAutoConf: !keepExisting}
	if recoveryConf == nil {
		r.RemoveExisting = !keepExisting
		return r
	}
	r.RemoveExisting = true
	r.Params = make(map[string]string, len(recoveryConf))
	for k, v := range recoveryConf {
		r.Params[strings.ToLower(strings.TrimSpace(k))] = v
	}
	// pause_at_recovery_target (before 9.5) is recovery_target_action since 9.5.
	if v, ok := r.Params["pause_at_recovery_target"]; ok {
		delete(r.Params, "pause_at_recovery_target")
		if b, valid := ParseBool(v); valid {
			if _, set := r.Params["recovery_target_action"]; !set {
				r.Params["recovery_target_action"] = map[bool]string{true: "pause", false: "promote"}[b]
			}
		}
	}
	if major < 12 {
		return r
	}
	standby, _ := ParseBool(r.Params["standby_mode"])
	delete(r.Params, "standby_mode")
	r.Signal = "recovery.signal"
	if standby {
		r.Signal = "standby.signal"
	}
	return r
}
