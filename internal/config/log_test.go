package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestLogSection(t *testing.T) {
	tests := []struct {
		name string
		log  string
		want Log
	}{
		{"defaults", "", Log{Level: "INFO", Format: "text", FileNum: 4, FileSize: 25000000, Mode: 0o600}},
		{"patroni 3.3 type json", "  type: json\n  level: warn\n", Log{Level: "WARNING", Format: "json", FileNum: 4, FileSize: 25000000, Mode: 0o600}},
		{"format json", "  format: JSON\n  level: critical\n", Log{Level: "CRITICAL", Format: "json", FileNum: 4, FileSize: 25000000, Mode: 0o600}},
		{"patroni default format", "  format: '%(asctime)s %(levelname)s: %(message)s'\n", Log{Level: "INFO", Format: "text", FileNum: 4, FileSize: 25000000, Mode: 0o600}},
		{"python format and dateformat", "  format: '%(asctime)s [%(process)d] %(levelname)-8s %(message)s'\n  dateformat: '%Y-%m-%dT%H:%M:%S%z'\n",
			Log{Level: "INFO", Format: "text", Template: "%(asctime)s [%(process)d] %(levelname)-8s %(message)s", DateFormat: "%Y-%m-%dT%H:%M:%S%z", FileNum: 4, FileSize: 25000000, Mode: 0o600}},
		{"patroni 4 example format", "  format: '%(asctime)s %(levelname)s [%(pathname)s:%(lineno)d - %(funcName)s]: %(message)s'\n",
			Log{Level: "INFO", Format: "text", Template: "%(asctime)s %(levelname)s [%(pathname)s:%(lineno)d - %(funcName)s]: %(message)s", FileNum: 4, FileSize: 25000000, Mode: 0o600}},
		{"dir and rotation", "  dir: /var/log/warden\n  file_size: 1000\n  file_num: 0\n  mode: 0640\n",
			Log{Level: "INFO", Format: "text", Dir: "/var/log/warden", FileNum: 0, FileSize: 1000, Mode: 0o640}},
		{"patroni 4.1 deduplicate_heartbeat_logs", "  deduplicate_heartbeat_logs: true\n",
			Log{Level: "INFO", Format: "text", FileNum: 4, FileSize: 25000000, Mode: 0o600, DeduplicateHeartbeatLogs: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := baseConfig
			if tt.log != "" {
				body += "log:\n" + tt.log
			}
			cfg, warns := mustLoad(t, writeFile(t, body))
			got := cfg.Log
			got.StaticFields = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("log = %+v, want %+v", got, tt.want)
			}
			for _, w := range warns {
				if strings.HasPrefix(w.Key, "log") {
					t.Errorf("unexpected warning %s", w)
				}
			}
		})
	}
}

func TestLogSectionProblems(t *testing.T) {
	tests := []struct {
		name, log, key, msg string
		fatal               bool
	}{
		{"unknown level", "  level: LOUD\n", "log.level", "unknown log level", true},
		{"unknown type", "  type: xml\n", "log.type", "unknown log type", true},
		{"type and format disagree", "  type: plain\n  format: json\n", "log.format", "contradicts log.type", true},
		{"unknown format attribute", "  format: '%(asctime)s %(colour)s'\n", "log.format", `%(colour) is not a Python LogRecord attribute; printed as written`, false},
		{"attribute without meaning", "  format: '%(asctime)s %(threadName)s %(funcName)s'\n", "log.format", `%(threadName) has no meaning in Warden (goroutines have no names); printed as MainThread`, false},
		{"bad dateformat", "  dateformat: '%Q'\n", "log.dateformat", "%Q is not supported (use %Y %m %d %H %M %S %f %z and the like); printed as written", false},
		{"negative file_num", "  file_num: -1\n", "log.file_num", "must be 0 or more", true},
		{"negative file_size", "  file_size: -5\n", "log.file_size", "must be 0", true},
		{"unwritable mode", "  mode: 0400\n", "log.mode", "does not let Warden write", true},
		{"world-readable mode", "  mode: 0644\n", "log.mode", "Warden uses 0640", false},
		{"field list with json", "  type: json\n  format: [asctime, message]\n", "log.format", "ignored with JSON output", false},
		{"field list with text", "  format: [asctime, message]\n", "log.format", "expected a string", true},
		{"template with json", "  type: json\n  format: '%(message)s'\n", "log.format", "ignored with JSON output", false},
		{"static fields with text", "  static_fields: {app: warden}\n", "log.static_fields", "only used with JSON", false},
		{"queue", "  max_queue_size: 10\n", "log.max_queue_size", "not supported by Warden", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, warns, err := Load(writeFile(t, baseConfig+"log:\n"+tt.log), testEnv)
			if !tt.fatal {
				if err != nil {
					t.Fatal(err)
				}
				wantWarning(t, warns, tt.key, 0, tt.msg)
				if tt.key == "log.mode" && cfg.Log.Mode != 0o640 {
					t.Errorf("mode = %#o", cfg.Log.Mode)
				}
				return
			}
			var found bool
			for _, e := range flatten(err) {
				var ce *Error
				if errors.As(e, &ce) && ce.Key == tt.key && ce.Line >= 13 && strings.Contains(ce.Message, tt.msg) {
					found = true
				}
			}
			if !found {
				t.Errorf("want error %s containing %q, got %v", tt.key, tt.msg, err)
			}
		})
	}
}

func TestLogFromEnv(t *testing.T) {
	cfg, _ := mustLoad(t, writeFile(t, baseConfig), "PATRONI_LOG_TYPE=json", "PATRONI_LOG_STATIC_FIELDS=app: warden")
	if cfg.Log.Format != "json" || cfg.Log.StaticFields["app"] != "warden" {
		t.Errorf("log = %+v", cfg.Log)
	}
	cfg, _ = mustLoad(t, writeFile(t, baseConfig), "PATRONI_LOG_MODE=0640", "PATRONI_LOG_DEDUPLICATE_HEARTBEAT_LOGS=true")
	if cfg.Log.Mode != 0o640 || !cfg.Log.DeduplicateHeartbeatLogs {
		t.Errorf("log = %+v", cfg.Log)
	}
}
