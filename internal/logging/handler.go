// Package logging renders slog records the way Patroni's log lines look
// ("2026-11-21 12:00:00,123 INFO: message key=value", or JSON with Patroni's
// asctime/levelname/message keys), so that operators' greps and log pipelines keep
// working, and writes them to size-rotated files named as Patroni names them.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// LevelCritical is Python's CRITICAL, above slog's levels.
const LevelCritical = slog.LevelError + 4

// Options configure a handler; the zero value (with a Level) gives Patroni's defaults.
type Options struct {
	// Level is the minimum level; a *slog.LevelVar lets a reload change it.
	Level slog.Leveler
	// Format is a Python logging format (log.format), "" for DefaultFormat.
	Format string
	// DateFormat is a strftime format for asctime (log.dateformat), "" for Patroni's.
	DateFormat string
}

// Handler is a slog.Handler writing Patroni-style lines.
type Handler struct {
	mu    *sync.Mutex
	w     io.Writer
	level slog.Leveler
	tmpl  template
	date  string
	attrs string
	group string
}

// New returns a handler writing Patroni's default lines to w at the given minimum level.
func New(w io.Writer, level slog.Leveler) *Handler {
	return NewText(w, Options{Level: level})
}

// NewText returns a handler writing lines shaped by o.Format; the record's attributes
// follow the rendered line as key=value pairs. Any format renders (FormatNotes and
// DateFormatNotes say how, where it differs from Python).
func NewText(w io.Writer, o Options) *Handler {
	f := o.Format
	if f == "" {
		f = DefaultFormat
	}
	tmpl, _ := parseTemplate(f)
	return &Handler{mu: &sync.Mutex{}, w: w, level: leveler(o.Level), tmpl: tmpl, date: o.DateFormat}
}

func leveler(l slog.Leveler) slog.Leveler {
	if l == nil {
		return slog.LevelInfo
	}
	return l
}

// ParseLevel maps Patroni's level names (DEBUG, INFO, WARNING, ERROR, CRITICAL).
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "", "INFO":
		return slog.LevelInfo, nil
	case "DEBUG":
		return slog.LevelDebug, nil
	case "WARN", "WARNING":
		return slog.LevelWarn, nil
	case "ERROR":
		return slog.LevelError, nil
	case "FATAL", "CRITICAL":
		return LevelCritical, nil
	}
	return slog.LevelInfo, fmt.Errorf("unknown log level %q (DEBUG, INFO, WARNING, ERROR or CRITICAL)", s)
}

func (h *Handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func levelName(l slog.Level) string {
	switch {
	case l >= LevelCritical:
		return "CRITICAL"
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARNING"
	case l >= slog.LevelInfo:
		return "INFO"
	}
	return "DEBUG"
}

// pythonLevel is Python's levelno: DEBUG 10 ... CRITICAL 50.
func pythonLevel(l slog.Level) int {
	return map[string]int{"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}[levelName(l)]
}

func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	h.tmpl.render(&b, r, h.date)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		writeAttr(&b, h.group, a)
		return true
	})
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func writeAttr(b *strings.Builder, group string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	key := a.Key
	if group != "" {
		key = group + "." + key
	}
	if a.Value.Kind() == slog.KindGroup {
		for _, ga := range a.Value.Group() {
			writeAttr(b, key, ga)
		}
		return
	}
	v := a.Value.String()
	if strings.ContainsAny(v, " \"=\n") || v == "" {
		v = fmt.Sprintf("%q", v)
	}
	fmt.Fprintf(b, " %s=%s", key, v)
}

func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var b strings.Builder
	for _, a := range attrs {
		writeAttr(&b, h.group, a)
	}
	n := *h
	n.attrs += b.String()
	return &n
}

func (h *Handler) WithGroup(name string) slog.Handler {
	n := *h
	if n.group != "" {
		name = n.group + "." + name
	}
	n.group = name
	return &n
}
