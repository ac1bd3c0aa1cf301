package compat

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Allowed is one documented deliberate difference (or one being fixed elsewhere).
//
// File format, one entry a line, fields separated by " | ":
//
//	versions | step | kind | target | path | docs/from-patroni.md#anchor | reason
//
// versions is a comma-separated list of Patroni versions ("3.0.2,4.1") or "*"; step,
// kind, target and path are patterns where "*" matches any text (also empty). Blank
// lines and lines starting with # are ignored.
type Allowed struct {
	Line                     int
	Versions                 []string
	Step, Kind, Target, Path *regexp.Regexp
	Doc, Reason              string
	Used                     int
}

// ParseAllowlist reads an allowlist; every entry must point to docs/from-patroni.md.
func ParseAllowlist(r io.Reader) ([]*Allowed, error) {
	var out []*Allowed
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, " | ")
		if len(f) != 7 {
			return nil, fmt.Errorf("allowlist line %d: want 7 fields separated by \" | \", got %d", n, len(f))
		}
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		if !strings.HasPrefix(f[5], "docs/from-patroni.md#") {
			return nil, fmt.Errorf("allowlist line %d: the docs field must point to a section of docs/from-patroni.md, got %q", n, f[5])
		}
		if f[6] == "" {
			return nil, fmt.Errorf("allowlist line %d: the reason is empty", n)
		}
		a := &Allowed{Line: n, Versions: strings.Split(f[0], ","), Doc: f[5], Reason: f[6]}
		a.Step, a.Kind, a.Target, a.Path = glob(f[1]), glob(f[2]), glob(f[3]), glob(f[4])
		out = append(out, a)
	}
	return out, sc.Err()
}

func glob(p string) *regexp.Regexp {
	parts := strings.Split(p, "*")
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
}

// Match returns the first entry that allows d for the Patroni version, or nil.
func Match(list []*Allowed, version string, d Difference) *Allowed {
	for _, a := range list {
		ok := false
		for _, v := range a.Versions {
			if v == "*" || v == version {
				ok = true
			}
		}
		if ok && a.Step.MatchString(d.Step) && a.Kind.MatchString(d.Kind) && a.Target.MatchString(d.Target) && a.Path.MatchString(d.Path) {
			a.Used++
			return a
		}
	}
	return nil
}
