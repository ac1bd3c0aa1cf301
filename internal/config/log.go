package config

import (
	"os"
	"strconv"
	"strings"

	"github.com/warden-ha/warden/internal/logging"
)

// Log is the log section.
type Log struct {
	Level string // DEBUG, INFO (default), WARNING, ERROR, CRITICAL
	// Format is "text" (default) or "json", from log.format or Patroni 3.3's log.type.
	Format string
	// Template is a Python logging format for text lines (Patroni's log.format);
	// "" means Patroni's default "%(asctime)s %(levelname)s: %(message)s".
	Template   string
	DateFormat string // strftime for asctime; "" for Patroni's "2006-01-02 15:04:05,123"
	Dir        string // write patroni.log here when set (rotated)
	FileNum    int    // rotated files kept, default 4
	FileSize   int64  // bytes before rotation, default 25000000; 0 never rotates
	Mode       os.FileMode
	// StaticFields are added to every JSON line (Patroni 3.3 log.static_fields).
	StaticFields map[string]string
	// DeduplicateHeartbeatLogs (Patroni 4.1): an HA heartbeat line identical to the
	// previous one is not logged.
	DeduplicateHeartbeatLogs bool
}

const (
	defaultLogMode = 0o600
	// maxLogMode: group may read, nobody else anything; log lines name hosts and users.
	maxLogMode = 0o640
)

const formatIgnoredWithJSON = "ignored with JSON output: Warden's JSON lines always carry asctime, levelname, message and the line's fields"

var logLevels = map[string]string{
	"DEBUG": "DEBUG", "INFO": "INFO", "WARN": "WARNING", "WARNING": "WARNING", "ERROR": "ERROR",
	"FATAL": "CRITICAL", "CRITICAL": "CRITICAL",
}

func decodeLog(s *section) Log {
	l := Log{Level: "INFO", Format: "text", FileNum: 4, FileSize: 25000000, Mode: defaultLogMode}
	if lv := s.str("level"); lv != "" {
		if n, ok := logLevels[strings.ToUpper(strings.TrimSpace(lv))]; ok {
			l.Level = n
		} else {
			s.d.fail(s.key("level"), "unknown log level %q (DEBUG, INFO, WARNING, ERROR or CRITICAL)", lv)
		}
	}
	typ := decodeLogType(s)
	l.Format, l.Template = decodeLogFormat(s, typ)
	if df := s.str("dateformat"); df != "" {
		for _, n := range logging.DateFormatNotes(df) {
			s.d.warn(s.key("dateformat"), "%s", n)
		}
		l.DateFormat = df
	}
	l.Dir = s.str("dir")
	l.FileNum = int(s.integer("file_num", 4))
	if l.FileNum < 0 {
		s.d.fail(s.key("file_num"), "must be 0 or more, got %d", l.FileNum)
	}
	l.FileSize = s.integer("file_size", 25000000)
	if l.FileSize < 0 {
		s.d.fail(s.key("file_size"), "must be 0 (never rotate) or more bytes, got %d", l.FileSize)
	}
	if s.has("mode") {
		m := logMode(s)
		switch {
		case m < 0 || m > 0o777:
			s.d.fail(s.key("mode"), "expected file permissions such as 0600 or 0640, got %d", m)
		case os.FileMode(m)&^maxLogMode != 0:
			s.d.warn(s.key("mode"), "%#o would let others read or change the log; Warden uses %#o", m, os.FileMode(m)&maxLogMode)
			l.Mode = os.FileMode(m) & maxLogMode
		default:
			l.Mode = os.FileMode(m)
		}
		if l.Mode&0o600 != 0o600 {
			s.d.fail(s.key("mode"), "%#o does not let Warden write its own log; use 0600 or 0640", l.Mode)
		}
	}
	l.StaticFields = s.strMap("static_fields")
	if len(l.StaticFields) > 0 && l.Format != "json" {
		s.d.warn(s.key("static_fields"), "only used with JSON output (log.type: json), ignored")
	}
	s.unsupported("Go reports errors without Python tracebacks", "traceback_level")
	s.unsupported("Warden writes each line directly, without a queue", "max_queue_size")
	s.unsupported("Warden has no per-module loggers", "loggers")
	l.DeduplicateHeartbeatLogs = s.boolean("deduplicate_heartbeat_logs", false)
	s.done(nil)
	return l
}

// logMode reads log.mode: YAML's 0640 is already octal; a string (PATRONI_LOG_MODE,
// '0640') is read as octal too, as permissions are written.
func logMode(s *section) int64 {
	str, ok := s.get("mode").(string)
	if !ok {
		return s.integer("mode", defaultLogMode)
	}
	m, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(str), "0o"), 8, 64)
	if err != nil {
		s.d.fail(s.key("mode"), "expected octal file permissions such as 0600 or 0640, got %s", describe("mode", str))
		return defaultLogMode
	}
	return m
}

// decodeLogType reads Patroni 3.3's log.type: "", "plain" or "json".
func decodeLogType(s *section) string {
	switch t := strings.ToLower(s.str("type")); t {
	case "", "plain", "json":
		return t
	default:
		s.d.fail(s.key("type"), "unknown log type %q (plain or json)", t)
		return ""
	}
}

// decodeLogFormat reads log.format: Warden's "text" or "json", or Patroni's Python
// logging format string for text lines.
func decodeLogFormat(s *section, typ string) (format, template string) {
	if _, list := s.get("format").([]any); list && typ == "json" {
		// Patroni 3.3 names the JSON fields in a list.
		s.d.warn(s.key("format"), "%s", formatIgnoredWithJSON)
		return "json", ""
	}
	f := s.str("format")
	word := strings.ToLower(strings.TrimSpace(f))
	switch {
	case word == "json":
		if typ == "plain" {
			s.d.fail(s.key("format"), "json contradicts log.type: plain")
		}
		return "json", ""
	case word == "text" || word == "plain":
		if typ == "json" {
			s.d.fail(s.key("format"), "%s contradicts log.type: json", word)
		}
		return "text", ""
	}
	format = "text"
	if typ == "json" {
		format = "json"
	}
	if f == "" || f == logging.DefaultFormat {
		return format, ""
	}
	if format == "json" {
		s.d.warn(s.key("format"), "%s", formatIgnoredWithJSON)
		return format, ""
	}
	for _, n := range logging.FormatNotes(f) {
		s.d.warn(s.key("format"), "%s", n)
	}
	return format, f
}
