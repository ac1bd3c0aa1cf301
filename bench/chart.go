package bench

import (
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strings"
	"unicode"
)

// Trace is one fault's write timeline for one tool: samples relative to the fault at 0 s.
type Trace struct {
	Title   string
	Tool    string
	Samples []Sample
	// Marks are labelled instants, e.g. "first write" or "SIGCONT".
	Marks []Mark
}

// Mark is a labelled instant on a trace.
type Mark struct {
	T     float64
	Label string
}

var (
	colBG    = color.RGBA{255, 255, 255, 255}
	colInk   = color.RGBA{20, 20, 20, 255}
	colGrid  = color.RGBA{225, 225, 225, 255}
	colOK    = color.RGBA{30, 150, 60, 255}
	colFail  = color.RGBA{210, 40, 40, 255}
	colFault = color.RGBA{40, 70, 200, 255}
	colMark  = color.RGBA{200, 120, 0, 255}
)

const (
	chartW     = 1500
	labelW     = 330
	rowH       = 26
	scale      = 2 // font pixel size
	headerH    = 60
	marginR    = 20
	groupSpace = 14
)

// Chart draws every trace as a row of write attempts through the multi-host DSN (green
// accepted, red failed) around its fault (blue line at 0 s). Consecutive traces with the
// same Title form a group sharing one time axis from -pre to the group's last attempt.
func Chart(w io.Writer, title string, traces []Trace, pre float64) error {
	type group struct {
		from, to int
		post     float64
	}
	var groups []group
	for i, t := range traces {
		if i == 0 || t.Title != traces[i-1].Title {
			groups = append(groups, group{from: i, to: i, post: 5})
		}
		g := &groups[len(groups)-1]
		g.to = i
		for _, s := range t.Samples {
			if (s.Via == "" || s.Via == "multi") && s.Start > g.post {
				g.post = s.Start
			}
		}
	}
	h := headerH + len(traces)*rowH + len(groups)*(groupSpace+28) + 10
	img := image.NewRGBA(image.Rect(0, 0, chartW, h))
	fill(img, img.Bounds(), colBG)
	text(img, 10, 10, title, colInk)
	text(img, 10, 32, "GREEN = INSERT ACCEPTED, RED = FAILED (MULTI-HOST DSN, EVERY 20 MS); BLUE = FAULT AT 0 S; ORANGE = MARKS", colInk)
	plotW := float64(chartW - labelW - marginR)
	y := headerH
	for _, g := range groups {
		post := math.Ceil(g.post)
		x := func(t float64) int { return labelW + int((t+pre)/(pre+post)*plotW) }
		tick := 1.0
		for (pre+post)/tick > 16 {
			tick *= 2
		}
		y += groupSpace
		text(img, 6, y, clip(traces[g.from].Title, (chartW-12)/(6*scale)), colInk)
		y += 18
		for _, tr := range traces[g.from : g.to+1] {
			for s := 0.0; s <= post; s += tick {
				fill(img, image.Rect(x(s), y, x(s)+1, y+rowH-4), colGrid)
			}
			for s := -tick; s >= -pre; s -= tick {
				fill(img, image.Rect(x(s), y, x(s)+1, y+rowH-4), colGrid)
			}
			text(img, 14, y+5, clip(tr.Tool, (labelW-20)/(6*scale)), colInk)
			for _, s := range tr.Samples {
				if (s.Via != "" && s.Via != "multi") || s.Start < -pre || s.Start > post {
					continue
				}
				c := colFail
				if s.OK {
					c = colOK
				}
				fill(img, image.Rect(x(s.Start), y+4, x(s.Start)+2, y+rowH-8), c)
			}
			fill(img, image.Rect(x(0), y, x(0)+2, y+rowH-4), colFault)
			for _, m := range tr.Marks {
				if m.T >= -pre && m.T <= post {
					fill(img, image.Rect(x(m.T), y, x(m.T)+2, y+rowH-4), colMark)
				}
			}
			y += rowH
		}
		for s := 0.0; s <= post; s += tick {
			fill(img, image.Rect(x(s), y-4, x(s)+1, y), colInk)
			text(img, x(s)-6, y+2, itoa(int(s))+"S", colInk)
		}
		y += 10
	}
	return png.Encode(w, img)
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}

func itoa(v int) string {
	neg := v < 0
	if neg {
		v = -v
	}
	d := ""
	for {
		d = string(rune('0'+v%10)) + d
		v /= 10
		if v == 0 {
			break
		}
	}
	if neg {
		d = "-" + d
	}
	return d
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

// text draws s in the 5×7 font at scale; unknown characters are drawn as '?'.
func text(img *image.RGBA, x0, y0 int, s string, c color.RGBA) {
	s = strings.NewReplacer("→", "->", "½", "1/2", ";", ",", "–", "-").Replace(s)
	for _, r := range strings.ToUpper(s) {
		g, ok := glyphs[unicode.ToUpper(r)]
		if !ok {
			g = glyphs['?']
		}
		for row, line := range g {
			for col, ch := range line {
				if ch == '#' {
					fill(img, image.Rect(x0+col*scale, y0+row*scale, x0+(col+1)*scale, y0+(row+1)*scale), c)
				}
			}
		}
		x0 += 6 * scale
	}
}
