package logging

import (
	"io"
	"log/slog"
	"maps"
	"slices"
)

// NewJSON returns a handler writing one JSON object per record with Patroni's JSON keys
// (asctime, levelname, message) first, then static fields and the record's attributes.
// Values implementing slog.LogValuer (secrets) are resolved, so they stay redacted.
func NewJSON(w io.Writer, o Options, static map[string]string) slog.Handler {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: leveler(o.Level),
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.String("asctime", formatTime(a.Value.Time(), o.DateFormat))
			case slog.LevelKey:
				l, _ := a.Value.Any().(slog.Level)
				return slog.String("levelname", levelName(l))
			case slog.MessageKey:
				return slog.String("message", a.Value.String())
			}
			return a
		},
	})
	if len(static) == 0 {
		return h
	}
	attrs := make([]slog.Attr, 0, len(static))
	for _, k := range slices.Sorted(maps.Keys(static)) {
		attrs = append(attrs, slog.String(k, static[k]))
	}
	return h.WithAttrs(attrs)
}
