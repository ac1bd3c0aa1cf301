package logging

import (
	"fmt"
	"log/slog"
	"runtime"
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

// parseTemplate compiles a Python logging format. It never fails: a log format must not
// keep an HA agent from starting. What cannot be rendered as Python would is rendered as
// the returned notes say (an unknown attribute or a broken placeholder as written).
func parseTemplate(s string) (template, []string) {
	var t template
	var notes []string
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
		seg, next, note := placeholder(s, i)
		if note != "" {
			notes = append(notes, note)
		}
		if seg.field == "" {
			lit.WriteString(s[i:next])
			i = next - 1
			continue
		}
		if lit.Len() > 0 {
			t = append(t, segment{literal: lit.String()})
			lit.Reset()
		}
		t = append(t, seg)
		i = next - 1
	}
	if lit.Len() > 0 {
		t = append(t, segment{literal: lit.String()})
	}
	return t, notes
}

// placeholder reads the %(name)<flags><conversion> at s[i:]: the segment (field "" when it
// is to be printed as written), the index after it, and a note when it is not rendered
// as Python renders it.
func placeholder(s string, i int) (segment, int, string) {
	if i+1 >= len(s) || s[i+1] != '(' {
		return segment{}, i + 1, fmt.Sprintf("%q: a %% must start %%(attribute)s or be written %%%%; printed as written", s)
	}
	end := strings.IndexByte(s[i:], ')')
	if end < 0 {
		return segment{}, len(s), fmt.Sprintf("%q: unclosed %%(; printed as written", s)
	}
	field := s[i+2 : i+end]
	j := i + end + 1
	for j < len(s) && strings.IndexByte("-+ #0123456789.", s[j]) >= 0 {
		j++
	}
	if j >= len(s) || strings.IndexByte("diouxXeEfFgGcrsa", s[j]) < 0 {
		return segment{}, j, fmt.Sprintf("%q: %%(%s) needs a conversion such as s or d; printed as written", s, field)
	}
	a, known := recordAttributes[field]
	if !known {
		return segment{}, j + 1, fmt.Sprintf("%q: %%(%s) is not a Python LogRecord attribute; printed as written", s, field)
	}
	flags, conv := s[i+end+1:j], s[j]
	var note string
	if a.text && strings.IndexByte("sra", conv) < 0 {
		note = fmt.Sprintf("%q: %%(%s) is text; printed as %%(%s)%ss", s, field, field, flags)
		conv = 's'
	} else if a.fixed != "" {
		note = fmt.Sprintf("%q: %%(%s) %s; printed as %s", s, field, a.why, a.fixed)
	}
	verb := "%" + flags
	switch conv {
	case 'd', 'i', 'u':
		verb += "d"
	case 's', 'r', 'a':
		verb += "v"
	default:
		verb += string(conv)
	}
	return segment{field: field, verb: verb}, j + 1, note
}

func (t template) render(b *strings.Builder, r slog.Record, date string) {
	var site *runtime.Frame
	for _, s := range t {
		if s.field == "" {
			b.WriteString(s.literal)
			continue
		}
		if site == nil && recordAttributes[s.field].callSite {
			f := callSite(r.PC)
			site = &f
		}
		v := attributeValue(s.field, r, date, site)
		fmt.Fprintf(b, s.verb, convert(v, s.verb[len(s.verb)-1]))
	}
}

// convert applies Python's %-conversion: %d truncates a float, %f takes an int, a
// number conversion of text prints the text.
func convert(v any, verb byte) any {
	switch x := v.(type) {
	case float64:
		if strings.IndexByte("doxXc", verb) >= 0 {
			return int64(x)
		}
		if verb == 'v' {
			// Python's str(float): no exponent at these magnitudes, at least one decimal.
			f := strconv.FormatFloat(x, 'f', -1, 64)
			if !strings.Contains(f, ".") {
				f += ".0"
			}
			return f
		}
	case int:
		if strings.IndexByte("eEfFgG", verb) >= 0 {
			return float64(x)
		}
	}
	return v
}

// FormatNotes lists how a Python logging format is rendered differently from Python's
// (unknown attributes, attributes without meaning in Go); nil when it renders as written.
func FormatNotes(s string) []string {
	_, notes := parseTemplate(s)
	return notes
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

// DateFormatNotes lists the strftime directives Warden prints as written.
func DateFormatNotes(s string) []string {
	_, notes := strftime(time.Time{}, s)
	return notes
}

// strftime renders f; a directive it does not know is printed as written (noted).
func strftime(t time.Time, f string) (string, []string) {
	var notes []string
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			b.WriteByte(f[i])
			continue
		}
		i++
		if i >= len(f) {
			b.WriteByte('%')
			notes = append(notes, fmt.Sprintf("%q ends with a lone %%; printed as written", f))
			break
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
			b.WriteString(f[i-1 : i+1])
			notes = append(notes, fmt.Sprintf("%q: %%%c is not supported (use %%Y %%m %%d %%H %%M %%S %%f %%z and the like); printed as written", f, f[i]))
		}
	}
	return b.String(), notes
}
