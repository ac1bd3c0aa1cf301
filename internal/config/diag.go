package config

import (
	"fmt"
	"strings"
)

// Warning is a problem Warden worked around: an ignored key, a removed
// parameter, a value replaced by its default.
type Warning struct {
	Key     string // dotted path, e.g. "bootstrap.dcs.ttl"
	Line    int    // 1-based YAML line, 0 when unknown or from the environment
	Message string
	// Source names the file (when a directory was loaded) or the
	// environment variable the value came from; empty for a single file.
	Source string
}

func (w Warning) String() string { return render(w.Source, w.Line, w.Key, w.Message) }

// Error is a problem that stops loading.
type Error struct {
	Key     string
	Line    int
	Message string
	Source  string
}

func (e *Error) Error() string { return render(e.Source, e.Line, e.Key, e.Message) }

func render(source string, line int, key, msg string) string {
	var b strings.Builder
	if source != "" {
		b.WriteString(source)
		b.WriteString(": ")
	}
	if line > 0 {
		fmt.Fprintf(&b, "line %d: ", line)
	}
	if key != "" {
		b.WriteString(key)
		b.WriteString(": ")
	}
	b.WriteString(msg)
	return b.String()
}

// pos is where a key was written.
type pos struct {
	source string
	line   int
}

// diags collects warnings and errors with their positions; one value is
// threaded through a whole Load so the order of messages follows the code.
type diags struct {
	pos   map[string]pos
	warns []Warning
	errs  []*Error
	// check, when set, is asked about every PostgreSQL parameter name.
	check ParameterCheck
}

func newDiags(p map[string]pos) *diags {
	if p == nil {
		p = map[string]pos{}
	}
	return &diags{pos: p}
}

// at finds where path (or, failing that, its nearest written parent) is.
func (d *diags) at(path string) pos {
	for p := path; p != ""; p = parentPath(p) {
		if ps, ok := d.pos[p]; ok {
			return ps
		}
	}
	return pos{}
}

func (d *diags) warn(path, format string, args ...any) {
	p := d.at(path)
	d.warns = append(d.warns, Warning{Key: path, Line: p.line, Message: fmt.Sprintf(format, args...), Source: p.source})
}

func (d *diags) fail(path, format string, args ...any) {
	p := d.at(path)
	d.errs = append(d.errs, &Error{Key: path, Line: p.line, Message: fmt.Sprintf(format, args...), Source: p.source})
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// parentPath drops the last segment; list items are written "a.b[2]".
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}
