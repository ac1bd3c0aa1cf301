package logging

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultFormat is Patroni's log.format.
const DefaultFormat = "%(asctime)s %(levelname)s: %(message)s"

// template is a compiled Python logging format string: literal text and %(field)s
// placeholders, with Python's flags and width (%(levelname)-8s).
type template []segment

type segment struct {
	literal string
	field   string // "" for a literal
	verb    string // fmt verb with flags and width, e.g. "%-8s"
}

// recordFields are the LogRecord attributes Warden can fill.
var recordFields = map[string]bool{
	"asctime": true, "levelname": true, "levelno": true, "message": true, "name": true,
	"process": true, "msecs": true, "created": true,
}

var textFields = map[string]bool{"asctime": true, "levelname": true, "message": true, "name": true}

func parseTemplate(s string) (template, error) {
	var t template
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			lit.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '%' {
			lit.WriteByte('%')
			i++
			continue
		}
		if i+1 >= len(s) || s[i+1] != '(' {
			return nil, fmt.Errorf("%q: a %% must start %%(field)s or be written %%%%", s)
		}
		end := strings.IndexByte(s[i:], ')')
		if end < 0 {
			return nil, fmt.Errorf("%q: unclosed %%(", s)
		}
		field := s[i+2 : i+end]
		if !recordFields[field] {
			return nil, fmt.Errorf("%q: field %q is not available (use asctime, levelname, levelno, message, name, process, msecs, created)", s, field)
		}
		j := i + end + 1
		for j < len(s) && strings.IndexByte("-+ #0123456789.", s[j]) >= 0 {
			j++
		}
		if j >= len(s) || strings.IndexByte("sdfr", s[j]) < 0 {
			return nil, fmt.Errorf("%q: %%(%s) needs a conversion such as s or d", s, field)
		}
		if strings.IndexByte("df", s[j]) >= 0 && textFields[field] {
			return nil, fmt.Errorf("%q: %%(%s) is text; use %%(%s)s", s, field, field)
		}
		verb := "%" + s[i+end+1:j]
		switch s[j] {
		case 'd':
			verb += "d"
		case 'f':
			verb += "f"
		default:
			verb += "v"
		}
		if lit.Len() > 0 {
			t = append(t, segment{literal: lit.String()})
			lit.Reset()
		}
		t = append(t, segment{field: field, verb: verb})
		i = j
	}
	if lit.Len() > 0 {
		t = append(t, segment{literal: lit.String()})
	}
	return t, nil
}

func (t template) render(b *strings.Builder, r slog.Record, date string) {
	for _, s := range t {
		if s.field == "" {
			b.WriteString(s.literal)
			continue
		}
		var v any
		switch s.field {
		case "asctime":
			v = formatTime(r.Time, date)
		case "levelname":
			v = levelName(r.Level)
		case "levelno":
			v = pythonLevel(r.Level)
		case "message":
			v = r.Message
		case "name":
			v = "warden"
		case "process":
			v = os.Getpid()
		case "msecs":
			v = float64(r.Time.Nanosecond()/1000) / 1000
		case "created":
			v = float64(r.Time.UnixMicro()) / 1e6
		}
		fmt.Fprintf(b, s.verb, convert(v, s.verb[len(s.verb)-1]))
	}
}

// convert applies Python's %-conversion: %d truncates a float, %f takes an int.
func convert(v any, verb byte) any {
	switch x := v.(type) {
	case float64:
		if verb == 'd' {
			return int64(x)
		}
	case int:
		if verb == 'f' {
			return float64(x)
		}
	}
	return v
}

// CheckFormat reports whether s is a Python logging format Warden can render.
func CheckFormat(s string) error {
	_, err := parseTemplate(s)
	return err
}

// formatTime renders asctime: Patroni's "2006-01-02 15:04:05,123" without a
// dateformat, strftime(dateformat) (without milliseconds, as Python) with one.
func formatTime(t time.Time, dateformat string) string {
	if dateformat == "" {
		return t.Format("2006-01-02 15:04:05") + "," + fmt.Sprintf("%03d", t.Nanosecond()/1e6)
	}
	s, _ := strftime(t, dateformat)
	return s
}

// CheckDateFormat reports whether s is a strftime format Warden can render.
func CheckDateFormat(s string) error {
	_, err := strftime(time.Time{}, s)
	return err
}

func strftime(t time.Time, f string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			b.WriteByte(f[i])
			continue
		}
		i++
		if i >= len(f) {
			return "", fmt.Errorf("%q ends with a lone %%", f)
		}
		switch f[i] {
		case 'Y':
			fmt.Fprintf(&b, "%04d", t.Year())
		case 'y':
			fmt.Fprintf(&b, "%02d", t.Year()%100)
		case 'm':
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case 'H':
			fmt.Fprintf(&b, "%02d", t.Hour())
		case 'I':
			fmt.Fprintf(&b, "%02d", (t.Hour()+11)%12+1)
		case 'M':
			fmt.Fprintf(&b, "%02d", t.Minute())
		case 'S':
			fmt.Fprintf(&b, "%02d", t.Second())
		case 'f':
			fmt.Fprintf(&b, "%06d", t.Nanosecond()/1000)
		case 'j':
			fmt.Fprintf(&b, "%03d", t.YearDay())
		case 'p':
			b.WriteString(t.Format("PM"))
		case 'b':
			b.WriteString(t.Format("Jan"))
		case 'B':
			b.WriteString(t.Format("January"))
		case 'a':
			b.WriteString(t.Format("Mon"))
		case 'A':
			b.WriteString(t.Format("Monday"))
		case 'z':
			b.WriteString(t.Format("-0700"))
		case 'Z':
			b.WriteString(t.Format("MST"))
		case 's':
			b.WriteString(strconv.FormatInt(t.Unix(), 10))
		case '%':
			b.WriteByte('%')
		default:
			return "", fmt.Errorf("%q: %%%c is not supported (use %%Y %%m %%d %%H %%M %%S %%f %%z and the like)", f, f[i])
		}
	}
	return b.String(), nil
}
