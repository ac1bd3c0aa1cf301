package ctl

import (
	"strings"
	"unicode/utf8"
)

// table renders rows the way patronictl's PrettyTable does: FRAME rules, one space of
// padding, left-aligned unless a column is listed in right, a title drawn into the top
// border, and a rule between rows when any cell spans several lines.
type table struct {
	title   string
	columns []string
	right   map[string]bool
	rows    [][]string
}

func (t table) String() string {
	widths := make([]int, len(t.columns))
	multiline := false
	for i, c := range t.columns {
		widths[i] = width(c)
	}
	for _, r := range t.rows {
		for i, cell := range r {
			for _, line := range strings.Split(cell, "\n") {
				widths[i] = max(widths[i], width(line))
			}
			multiline = multiline || strings.Contains(cell, "\n")
		}
	}
	var rule strings.Builder
	rule.WriteByte('+')
	for _, w := range widths {
		rule.WriteString(strings.Repeat("-", w+2))
		rule.WriteByte('+')
	}
	hr := rule.String()
	var b strings.Builder
	top := hr
	if t.title != "" {
		title := t.title
		if n := utf8.RuneCountInString(hr) - 2; utf8.RuneCountInString(title) > n {
			title = string([]rune(title)[:n])
		}
		rs := []rune(hr)
		top = string(rs[0]) + title + string(rs[1+utf8.RuneCountInString(title):])
	}
	b.WriteString(top + "\n")
	b.WriteString(t.line(t.columns, widths) + "\n")
	b.WriteString(hr + "\n")
	for i, r := range t.rows {
		lines := 1
		split := make([][]string, len(r))
		for j, cell := range r {
			split[j] = strings.Split(cell, "\n")
			lines = max(lines, len(split[j]))
		}
		for l := 0; l < lines; l++ {
			cells := make([]string, len(r))
			for j := range r {
				if l < len(split[j]) {
					cells[j] = split[j][l]
				}
			}
			b.WriteString(t.line(cells, widths) + "\n")
		}
		if multiline && i < len(t.rows)-1 {
			b.WriteString(hr + "\n")
		}
	}
	if len(t.rows) > 0 || !multiline {
		b.WriteString(hr + "\n")
	}
	return b.String()
}

func (t table) line(cells []string, widths []int) string {
	var b strings.Builder
	b.WriteByte('|')
	for i, c := range cells {
		pad := strings.Repeat(" ", widths[i]-width(c))
		b.WriteByte(' ')
		if t.right[t.columns[i]] {
			b.WriteString(pad + c)
		} else {
			b.WriteString(c + pad)
		}
		b.WriteString(" |")
	}
	return b.String()
}

func width(s string) int { return utf8.RuneCountInString(s) }
