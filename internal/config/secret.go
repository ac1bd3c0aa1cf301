package config

import (
	"fmt"
	"io"
	"log/slog"
)

const redacted = "******"

// Secret holds a password. Every way of printing it (fmt verbs, slog,
// JSON, YAML, text) shows "******"; only Reveal returns the value, so a
// leak needs an explicit call that shows up in review.
type Secret string

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

// String returns "******" for a non-empty secret and "" for an empty one.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return fmt.Sprintf("config.Secret(%q)", s.String()) }

// Format makes every fmt verb (including %d and %x) print the redacted form.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, s.GoString())
		return
	}
	_, _ = io.WriteString(f, s.String())
}

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText implements encoding.TextMarshaler (used by JSON and YAML encoders).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
