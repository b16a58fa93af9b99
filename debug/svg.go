package debug

import (
	"fmt"
	"strconv"
)

// chart is a bar chart ready for the page template's inline SVG.
type chart struct {
	Class, Label     string
	W, H             int
	Top, Left, Right string // axis labels: the scale's top, the first and last x
	Bars             []bar
}

type bar struct {
	X, Y, W, H int
	Fill       string
	Title      string
}

const (
	chartW   = 600
	chartH   = 140
	chartTop = 16 // room for the scale's label
	chartBot = 16 // room for the x labels
)

// scale maps a count to a bar height in pixels.
func scale(v, top uint64) int {
	if top == 0 {
		return 0
	}
	return int(v * (chartH - chartTop - chartBot) / top)
}

// rateChart draws calls per second, with the failed part of each bar in
// red.
func rateChart(pts []RatePoint) chart {
	c := chart{Class: "rate", Label: "calls per second over the last minute", W: chartW, H: chartH,
		Left: "-" + strconv.Itoa(len(pts)) + "s", Right: "now"}
	var top uint64
	for _, p := range pts {
		top = max(top, p.Calls)
	}
	c.Top = strconv.FormatUint(top, 10) + " calls/s"
	if len(pts) == 0 {
		return c
	}
	w := chartW / len(pts)
	for i, p := range pts {
		h, he := scale(p.Calls, top), scale(p.Errors, top)
		base := chartH - chartBot
		title := fmt.Sprintf("%s: %d calls, %d errors", p.Time.Format("15:04:05"), p.Calls, p.Errors)
		c.Bars = append(c.Bars, bar{X: i * w, Y: base - h, W: max(w-1, 1), H: h, Fill: "#4a7ebb", Title: title})
		if he > 0 {
			c.Bars = append(c.Bars, bar{X: i * w, Y: base - he, W: max(w-1, 1), H: he, Fill: "#c33", Title: title})
		}
	}
	return c
}

// latencyChart draws a latency histogram.
func latencyChart(bs []Bucket) chart {
	c := chart{Class: "latency", Label: "handler-time histogram of all calls (log scale)", W: chartW, H: chartH}
	if len(bs) == 0 {
		c.Top = "no calls yet"
		return c
	}
	c.Left, c.Right = fmtDur(bs[0].Lo), fmtDur(bs[len(bs)-1].Hi)
	var top uint64
	for _, b := range bs {
		top = max(top, b.Count)
	}
	c.Top = strconv.FormatUint(top, 10) + " calls"
	w := chartW / len(bs)
	for i, b := range bs {
		h := scale(b.Count, top)
		title := fmt.Sprintf("%s–%s: %d calls", fmtDur(b.Lo), fmtDur(b.Hi), b.Count)
		c.Bars = append(c.Bars, bar{X: i * w, Y: chartH - chartBot - h, W: max(w-1, 1), H: h, Fill: "#5a9", Title: title})
	}
	return c
}
