package config

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// section reads one mapping of the tree, remembering which keys were
// asked for so that every other key can be reported, never dropped silently.
// Strict sections (the local file) turn type mistakes into Errors; lenient
// ones (dynamic config) fall back to defaults with a Warning.
type section struct {
	d       *diags
	path    string
	m       map[string]any
	asked   map[string]bool
	lenient bool
}

func newSection(d *diags, path string, m map[string]any, lenient bool) *section {
	if m == nil {
		m = map[string]any{}
	}
	return &section{d: d, path: path, m: m, asked: map[string]bool{}, lenient: lenient}
}

func (s *section) key(k string) string { return joinPath(s.path, k) }

func (s *section) has(k string) bool {
	s.asked[k] = true
	v, ok := s.m[k]
	return ok && v != nil
}

func (s *section) get(k string) any {
	s.asked[k] = true
	return s.m[k]
}

// bad reports a value of the wrong type: fatal when strict.
func (s *section) bad(k, want string, v any) {
	if s.lenient {
		s.d.warn(s.key(k), "expected %s, got %s; using the default", want, describe(k, v))
		return
	}
	s.d.fail(s.key(k), "expected %s, got %s", want, describe(k, v))
}

// describe names a value's type, and its text only when it cannot be secret.
func describe(k string, v any) string {
	switch t := v.(type) {
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case nil:
		return "nothing"
	default:
		if strings.Contains(strings.ToLower(k), "password") {
			return "a hidden value"
		}
		s := fmt.Sprint(t)
		if len(s) > 60 {
			s = s[:60] + "..."
		}
		return strconv.Quote(s)
	}
}

func (s *section) sub(k string) *section {
	v := s.get(k)
	m, ok := v.(map[string]any)
	if !ok && v != nil {
		s.bad(k, "a mapping", v)
	}
	return newSection(s.d, s.key(k), m, s.lenient)
}

func (s *section) str(k string) string {
	v := s.get(k)
	switch v.(type) {
	case nil:
		return ""
	case map[string]any, []any:
		s.bad(k, "a string", v)
		return ""
	}
	return toString(v)
}

func (s *section) secret(k string) Secret { return Secret(s.str(k)) }

func (s *section) boolean(k string, def bool) bool {
	v := s.get(k)
	if v == nil {
		return def
	}
	b, ok := parseBool(v)
	if !ok {
		if s.lenient {
			s.d.warn(s.key(k), "expected a boolean, got %s; using the default %t", describe(k, v), def)
			return def
		}
		s.d.fail(s.key(k), "expected a boolean (true/false, on/off, yes/no, 1/0), got %s", describe(k, v))
		return def
	}
	return b
}

func (s *section) optBool(k string) *bool {
	if !s.has(k) {
		return nil
	}
	b := s.boolean(k, false)
	return &b
}

// integer accepts ints, integral floats and numeric strings, like Python's int().
func (s *section) integer(k string, def int64) int64 {
	v := s.get(k)
	if v == nil {
		return def
	}
	n, ok := toInt(v)
	if !ok {
		if s.lenient {
			s.d.warn(s.key(k), "expected an integer, got %s; using the default %d", describe(k, v), def)
			return def
		}
		s.d.fail(s.key(k), "expected an integer, got %s", describe(k, v))
		return def
	}
	return n
}

func toInt(v any) (int64, bool) {
	switch t := v.(type) {
	case int:
		return int64(t), true
	case float64:
		if t != math.Trunc(t) || math.IsInf(t, 0) || math.Abs(t) > 1<<53 {
			return 0, false
		}
		return int64(t), true
	case bool:
		return 0, false
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// seconds reads an integer number of seconds as a Duration.
func (s *section) seconds(k string, def time.Duration) time.Duration {
	n := s.integer(k, int64(def/time.Second))
	const limit = int64(math.MaxInt64 / int64(time.Second))
	if n > limit || n < -limit {
		s.d.warn(s.key(k), "%d seconds is out of range; using the default", n)
		return def
	}
	return time.Duration(n) * time.Second
}

// strList reads a list of scalars.
func (s *section) strList(k string) []string {
	v := s.get(k)
	if v == nil {
		return nil
	}
	l, ok := v.([]any)
	if !ok {
		s.bad(k, "a list", v)
		return nil
	}
	out := make([]string, 0, len(l))
	for i, x := range l {
		switch x.(type) {
		case map[string]any, []any, nil:
			s.d.warn(fmt.Sprintf("%s[%d]", s.key(k), i), "expected a string, got %s; ignored", describe(k, x))
			continue
		}
		out = append(out, toString(x))
	}
	return out
}

// strMap reads a mapping of scalars.
func (s *section) strMap(k string) map[string]string {
	v := s.get(k)
	if v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		s.bad(k, "a mapping", v)
		return nil
	}
	out := make(map[string]string, len(m))
	for mk, x := range m {
		switch x.(type) {
		case map[string]any, []any:
			s.d.warn(joinPath(s.key(k), mk), "expected a string, got %s; ignored", describe(mk, x))
			continue
		}
		out[mk] = toString(x)
	}
	return out
}

func (s *section) rawMap(k string) map[string]any {
	v := s.get(k)
	if v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		s.bad(k, "a mapping", v)
		return nil
	}
	return m
}

// unsupported marks Patroni keys Warden reads but does not act on.
func (s *section) unsupported(reason string, keys ...string) {
	for _, k := range keys {
		if s.has(k) {
			s.d.warn(s.key(k), "not supported by Warden, ignored (%s)", reason)
		}
	}
}

// done warns about every key nobody asked for; hints add advice for
// common mistakes, keyed by the unknown name.
func (s *section) done(hints map[string]string) {
	keys := make([]string, 0, len(s.m))
	for k := range s.m {
		if !s.asked[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	known := make([]string, 0, len(s.asked))
	for k := range s.asked {
		known = append(known, k)
	}
	sort.Strings(known)
	for _, k := range keys {
		if hint, ok := hints[k]; ok {
			s.d.warn(s.key(k), "%s", hint)
			continue
		}
		msg := "unknown key, ignored"
		if n := nearest(k, known); closeEnough(k, n) {
			msg = fmt.Sprintf("unknown key (did you mean %s?), ignored", n)
		}
		s.d.warn(s.key(k), "%s", msg)
	}
}
