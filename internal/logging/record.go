package logging

import (
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// attribute is one Python LogRecord attribute a log.format may name.
type attribute struct {
	text     bool // rendered with %s only
	callSite bool // filled from the Go function that logged
	// fixed is what an attribute without meaning in Warden prints, why says why.
	fixed, why string
}

// recordAttributes are every attribute of Python's LogRecord (3.12), so any format
// Patroni accepts renders.
var recordAttributes = map[string]attribute{
	"asctime": {text: true}, "created": {}, "levelname": {text: true}, "levelno": {},
	"message": {text: true}, "msg": {text: true}, "msecs": {}, "name": {text: true},
	"process": {}, "relativeCreated": {}, "thread": {},
	"pathname": {text: true, callSite: true}, "filename": {text: true, callSite: true},
	"module": {text: true, callSite: true}, "funcName": {text: true, callSite: true},
	"lineno":      {callSite: true},
	"threadName":  {text: true, fixed: "MainThread", why: "has no meaning in Warden (goroutines have no names)"},
	"processName": {text: true, fixed: "MainProcess", why: "has no meaning in Warden (one process)"},
	"args":        {text: true, fixed: "()", why: "has no meaning in Warden (messages are formatted before logging)"},
	"exc_info":    {text: true, fixed: "None", why: "has no meaning in Warden (no Python exceptions)"},
	"exc_text":    {text: true, fixed: "None", why: "has no meaning in Warden (no Python exceptions)"},
	"stack_info":  {text: true, fixed: "None", why: "has no meaning in Warden (no Python stacks)"},
	"taskName":    {text: true, fixed: "None", why: "has no meaning in Warden (no asyncio tasks)"},
}

// started stands in for the time Python's logging module was loaded (relativeCreated).
var started = time.Now()

// callSite is the Go function that logged the record; Python's placeholders when unknown.
func callSite(pc uintptr) runtime.Frame {
	if pc == 0 {
		return runtime.Frame{File: "(unknown file)", Function: "(unknown function)"}
	}
	f, _ := runtime.CallersFrames([]uintptr{pc}).Next()
	return f
}

func attributeValue(field string, r slog.Record, date string, site *runtime.Frame) any {
	switch field {
	case "asctime":
		return formatTime(r.Time, date)
	case "levelname":
		return levelName(r.Level)
	case "levelno":
		return pythonLevel(r.Level)
	case "message", "msg":
		return r.Message
	case "name":
		return "warden"
	case "process":
		return os.Getpid()
	case "thread":
		return syscall.Gettid()
	case "msecs":
		return float64(r.Time.Nanosecond()/1000) / 1000
	case "created":
		return float64(r.Time.UnixMicro()) / 1e6
	case "relativeCreated":
		return float64(r.Time.Sub(started).Microseconds()) / 1000
	case "pathname":
		return site.File
	case "filename":
		return filepath.Base(site.File)
	case "module":
		return strings.TrimSuffix(filepath.Base(site.File), filepath.Ext(site.File))
	case "funcName":
		return site.Function[strings.LastIndexByte(site.Function, '.')+1:]
	case "lineno":
		return site.Line
	}
	return recordAttributes[field].fixed
}
