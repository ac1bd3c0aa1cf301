package ctl

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// dumpYAML renders JSON-shaped data as PyYAML's safe_dump(default_flow_style=False) does,
// which is what patronictl prints for show-config, edit-config and `list -f yaml`: keys
// sorted, sequences not indented under their key, strings plain unless YAML 1.1 would read
// them as something else, otherwise single-quoted.
func dumpYAML(v any) string {
	var b strings.Builder
	switch t := v.(type) {
	case map[string]any:
		if len(t) == 0 {
			return "{}\n"
		}
		blockMap(&b, t, 0)
	case []any:
		if len(t) == 0 {
			return "[]\n"
		}
		blockSeq(&b, t, 0)
	default:
		b.WriteString(scalar(v, false) + "\n")
	}
	return b.String()
}

// DumpYAML is dumpYAML for other commands: `warden --validate-config --print` prints the
// configuration as Patroni's yaml.safe_dump would.
func DumpYAML(v any) string { return dumpYAML(v) }

// flowYAML is safe_dump(default_flow_style=True) without the trailing newline.
func flowYAML(v any) string {
	switch t := v.(type) {
	case map[string]any:
		parts := make([]string, 0, len(t))
		for _, k := range sortedKeys(t) {
			parts = append(parts, scalar(k, true)+": "+flowYAML(t[k]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = flowYAML(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	default:
		return scalar(v, true)
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func blockMap(b *strings.Builder, m map[string]any, indent int) {
	pad := strings.Repeat(" ", indent)
	// The first key follows "key:\n<pad>" or "- " already written by the caller.
	for i, k := range sortedKeys(m) {
		if i > 0 {
			b.WriteString(pad)
		}
		b.WriteString(scalar(k, false) + ":")
		writeValue(b, m[k], indent, true)
	}
}

func blockSeq(b *strings.Builder, s []any, indent int) {
	pad := strings.Repeat(" ", indent)
	for i, e := range s {
		if i > 0 {
			b.WriteString(pad)
		}
		b.WriteString("-")
		writeValue(b, e, indent, false)
	}
}

// writeValue writes what follows "key:" or "-" on the current line.
func writeValue(b *strings.Builder, v any, indent int, inMap bool) {
	switch t := v.(type) {
	case map[string]any:
		if len(t) == 0 {
			b.WriteString(" {}\n")
			return
		}
		if inMap {
			b.WriteString("\n" + strings.Repeat(" ", indent+2))
		} else {
			b.WriteString(" ")
		}
		blockMap(b, t, indent+2)
	case []any:
		if len(t) == 0 {
			b.WriteString(" []\n")
			return
		}
		if inMap {
			// PyYAML does not indent a sequence under its mapping key.
			b.WriteString("\n" + strings.Repeat(" ", indent))
			blockSeq(b, t, indent)
		} else {
			b.WriteString(" ")
			blockSeq(b, t, indent+2)
		}
	default:
		b.WriteString(" " + scalar(v, false) + "\n")
	}
}

var (
	yamlBool  = regexp.MustCompile(`^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$`)
	yamlInt   = regexp.MustCompile(`^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$`)
	yamlFloat = regexp.MustCompile(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`)
	yamlNull  = regexp.MustCompile(`^(?:~|null|Null|NULL|)$`)
	yamlTime  = regexp.MustCompile(`^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$`)
)

func scalar(v any, flow bool) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(t)
	case int:
		return strconv.Itoa(t)
	case int64:
		return strconv.FormatInt(t, 10)
	case uint64:
		return strconv.FormatUint(t, 10)
	case float64:
		return yamlFloatString(t)
	case string:
		if plainOK(t, flow) {
			return t
		}
		if strings.ContainsAny(t, "\n\r\t") || !printable(t) {
			return strconv.Quote(t)
		}
		return "'" + strings.ReplaceAll(t, "'", "''") + "'"
	default:
		return scalar(fmt.Sprint(t), flow)
	}
}

func yamlFloatString(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return ".inf"
	case math.IsInf(f, -1):
		return "-.inf"
	case math.IsNaN(f):
		return ".nan"
	case f == math.Trunc(f) && math.Abs(f) < 1e16:
		// JSON numbers decode to float64; Patroni's integers are ints.
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// plainOK follows PyYAML's analyze_scalar and implicit resolvers.
func plainOK(s string, flow bool) bool {
	if s == "" || yamlBool.MatchString(s) || yamlInt.MatchString(s) || yamlFloat.MatchString(s) ||
		yamlNull.MatchString(s) || yamlTime.MatchString(s) || s == "<<" || s == "=" {
		return false
	}
	if strings.HasPrefix(s, "---") || strings.HasPrefix(s, "...") {
		return false
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' || !printable(s) {
		return false
	}
	flowInd, blockInd := false, false
	rs := []rune(s)
	for i, ch := range rs {
		followedBySpace := i+1 == len(rs) || rs[i+1] == ' '
		precededBySpace := i > 0 && rs[i-1] == ' '
		if i == 0 {
			if strings.ContainsRune("#,[]{}&*!|>'\"%@`", ch) {
				flowInd, blockInd = true, true
			}
			if ch == '?' || ch == ':' {
				flowInd = true
				if followedBySpace {
					blockInd = true
				}
			}
			if ch == '-' && followedBySpace {
				flowInd, blockInd = true, true
			}
			continue
		}
		if strings.ContainsRune(",?[]{}", ch) {
			flowInd = true
		}
		if ch == ':' {
			flowInd = true
			if followedBySpace {
				blockInd = true
			}
		}
		if ch == '#' && precededBySpace {
			flowInd, blockInd = true, true
		}
	}
	if flow {
		return !flowInd
	}
	return !blockInd
}
