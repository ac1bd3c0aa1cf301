package bench

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Target is a scenario's goal for Warden and how to check it against both tools' summaries.
type Target struct {
	Text string
	// Check reports whether Warden meets the target; known is false when it cannot be
	// decided (no Warden figure, or a ratio target without a Patroni figure).
	Check func(w, p Summary) (met, known bool)
}

// AtMost: Warden's median ≤ limit.
func AtMost(limit float64, text string) Target {
	return Target{Text: text, Check: func(w, _ Summary) (bool, bool) {
		return w.N > 0 && w.Median <= limit, w.N > 0
	}}
}

// RatioAtMost: Warden's median ≤ r × Patroni's (e.g. 0.5 for "half of Patroni's").
func RatioAtMost(r float64, text string) Target {
	return Target{Text: text, Check: func(w, p Summary) (bool, bool) {
		if w.N == 0 || p.N == 0 {
			return false, false
		}
		return w.Median <= r*p.Median, true
	}}
}

// RatioAtLeast: Warden's median ≥ r × Patroni's (throughput).
func RatioAtLeast(r float64, text string) Target {
	return Target{Text: text, Check: func(w, p Summary) (bool, bool) {
		if w.N == 0 || p.N == 0 {
			return false, false
		}
		return w.Median >= r*p.Median, true
	}}
}

// Both: every part must hold; unknown if any part is unknown.
func Both(text string, ts ...Target) Target {
	return Target{Text: text, Check: func(w, p Summary) (bool, bool) {
		all := true
		for _, t := range ts {
			met, known := t.Check(w, p)
			if !known {
				return false, false
			}
			all = all && met
		}
		return all, true
	}}
}

// Row is one line of the results table. A tool's cell shows Note instead of figures when
// it has no samples (e.g. "not supported yet", "skipped").
type Row struct {
	Scenario string
	Unit     string
	Warden   Summary
	Patroni  Summary
	WNote    string
	PNote    string
	Target   Target
}

// Cell formats a summary as "median (min–max) unit".
func Cell(s Summary, unit, note string) string {
	if s.N == 0 {
		if note == "" {
			return "—"
		}
		return note
	}
	if s.N == 1 || s.Min == s.Max {
		return num(s.Median) + " " + unit
	}
	return fmt.Sprintf("%s (%s–%s) %s", num(s.Median), num(s.Min), num(s.Max), unit)
}

func num(v float64) string {
	switch a := abs(v); {
	case a == 0:
		return "0"
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 0.1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// Ratio is Warden's median over Patroni's, "—" when either is missing.
func (r Row) Ratio() string {
	if r.Warden.N == 0 || r.Patroni.N == 0 || r.Patroni.Median == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", r.Warden.Median/r.Patroni.Median)
}

// Met is "yes", "NO" or "?" (cannot be decided), "" without a target.
func (r Row) Met() string {
	if r.Target.Check == nil {
		return ""
	}
	met, known := r.Target.Check(r.Warden, r.Patroni)
	switch {
	case !known:
		return "?"
	case met:
		return "yes"
	default:
		return "NO"
	}
}

// Render writes the table with aligned columns.
func Render(w io.Writer, rows []Row) error {
	cells := [][]string{{"scenario", "Warden median (min–max)", "Patroni median (min–max)", "W/P", "target", "met?"}}
	for _, r := range rows {
		cells = append(cells, []string{r.Scenario, Cell(r.Warden, r.Unit, r.WNote), Cell(r.Patroni, r.Unit, r.PNote), r.Ratio(), r.Target.Text, r.Met()})
	}
	width := make([]int, len(cells[0]))
	for _, row := range cells {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for i, row := range cells {
		for j, c := range row {
			if j > 0 {
				b.WriteString(" | ")
			}
			b.WriteString(c)
			if j < len(row)-1 {
				b.WriteString(strings.Repeat(" ", width[j]-utf8.RuneCountInString(c)))
			}
		}
		b.WriteString("\n")
		if i == 0 {
			for j := range row {
				if j > 0 {
					b.WriteString("-+-")
				}
				b.WriteString(strings.Repeat("-", width[j]))
			}
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Markdown renders the same table for README.md.
func Markdown(w io.Writer, rows []Row) error {
	var b strings.Builder
	b.WriteString("| scenario | Warden median (min–max) | Patroni median (min–max) | W/P | target | met? |\n|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", r.Scenario, Cell(r.Warden, r.Unit, r.WNote), Cell(r.Patroni, r.Unit, r.PNote), r.Ratio(), r.Target.Text, r.Met())
	}
	_, err := io.WriteString(w, b.String())
	return err
}
