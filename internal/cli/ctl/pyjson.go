package ctl

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
)

// pair is one key of an ordered object: patronictl's -f json keeps column order.
type pair struct {
	Key   string
	Value any
}

// pyJSON encodes like Python's json.dumps with default settings: ", " and ": "
// separators, ASCII-only output, keys of plain maps sorted (Go maps have no order).
func pyJSON(v any) string {
	var b strings.Builder
	writePyJSON(&b, v)
	return b.String()
}

func writePyJSON(b *strings.Builder, v any) {
	switch t := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(t))
	case int:
		b.WriteString(strconv.Itoa(t))
	case int64:
		b.WriteString(strconv.FormatInt(t, 10))
	case uint64:
		b.WriteString(strconv.FormatUint(t, 10))
	case float64:
		b.WriteString(yamlFloatString(t))
	case string:
		writePyString(b, t)
	case []pair:
		b.WriteByte('{')
		for i, p := range t {
			if i > 0 {
				b.WriteString(", ")
			}
			writePyString(b, p.Key)
			b.WriteString(": ")
			writePyJSON(b, p.Value)
		}
		b.WriteByte('}')
	case map[string]any:
		ps := make([]pair, 0, len(t))
		for _, k := range sortedKeys(t) {
			ps = append(ps, pair{k, t[k]})
		}
		writePyJSON(b, ps)
	case []any:
		b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				b.WriteString(", ")
			}
			writePyJSON(b, e)
		}
		b.WriteByte(']')
	case [][]pair:
		b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				b.WriteString(", ")
			}
			writePyJSON(b, e)
		}
		b.WriteByte(']')
	default:
		writePyString(b, fmt.Sprint(t))
	}
}

func writePyString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r > 0x7f:
			if r > 0xffff {
				r1, r2 := utf16.EncodeRune(r)
				fmt.Fprintf(b, `\u%04x\u%04x`, r1, r2)
			} else {
				fmt.Fprintf(b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}
