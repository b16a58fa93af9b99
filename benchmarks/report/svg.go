package report

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/ferryrpc/ferry/benchmarks/bench"
	"github.com/ferryrpc/ferry/benchmarks/message"
)

// Chart geometry, in SVG user units.
const (
	chartW     = 880
	chartH     = 500
	plotLeft   = 90
	plotRight  = 650
	plotTop    = 60
	plotBottom = 420
)

// palette gives each system a color, in display order.
var palette = []string{"#d62728", "#ff7f0e", "#1f77b4", "#17becf", "#2ca02c", "#7f7f7f", "#9467bd", "#8c564b", "#e377c2", "#bcbd22"}

// SVG writes a line chart of echo throughput against concurrency for the
// first message of the report (the default one when it ran): one polyline
// per system, both axes log-scaled (the limits run an order of magnitude
// above the RPC systems), and a legend. The systems named in dashed are
// drawn dashed (the limits). It uses no external assets.
func SVG(w io.Writer, rep *Report, dashed ...string) error {
	bw := bufio.NewWriter(w)
	c := &chart{p: func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }}
	var k message.Kind
	if ks := messages(rep.Echo); len(ks) > 0 {
		k = ks[0]
	}
	echo := ofMessage(rep.Echo, k)
	c.scale(echo)
	c.p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="13">`+"\n", chartW, chartH, chartW, chartH)
	c.p(`<rect width="100%%" height="100%%" fill="#ffffff"/>` + "\n")
	c.p(`<text x="%d" y="28" font-size="17" font-weight="bold">Echo throughput against concurrency</text>`+"\n", plotLeft)
	c.p(`<text x="%d" y="46" fill="#555">%s</text>`+"\n", plotLeft, html.EscapeString(subtitle(rep, k)))
	c.axes()
	legendY := plotTop + 10
	for i, sys := range rep.Systems {
		if c.series(echo, sys, rep.Meta.Label(sys), palette[i%len(palette)], slices.Contains(dashed, sys), legendY) {
			legendY += 22
		}
	}
	c.p("</svg>\n")
	return bw.Flush()
}

// chart maps concurrency and calls/s to plot coordinates, both on log
// scales, and writes SVG elements.
type chart struct {
	p        func(format string, args ...any)
	conc     []int
	yLo, yHi float64 // calls/s at the bottom and top of the plot
}

// scale fits the axes to rs: the concurrency levels present, and whole
// decades around the calls/s values.
func (c *chart) scale(rs []bench.Result) {
	c.conc = concurrencies(rs)
	lo, hi := math.Inf(1), 0.0
	for _, r := range rs {
		if r.CallsPerSec > 0 {
			lo, hi = min(lo, r.CallsPerSec), max(hi, r.CallsPerSec)
		}
	}
	if hi == 0 {
		lo, hi = 1, 10
	}
	c.yLo = math.Pow(10, math.Floor(math.Log10(lo)))
	c.yHi = math.Max(math.Pow(10, math.Ceil(math.Log10(hi))), c.yLo*10)
}

func (c *chart) x(conc int) float64 {
	if len(c.conc) < 2 {
		return (plotLeft + plotRight) / 2
	}
	lo, hi := math.Log(float64(c.conc[0])), math.Log(float64(c.conc[len(c.conc)-1]))
	return plotLeft + 20 + (math.Log(float64(conc))-lo)/(hi-lo)*(plotRight-plotLeft-40)
}

func (c *chart) y(v float64) float64 {
	return plotBottom - math.Log(v/c.yLo)/math.Log(c.yHi/c.yLo)*(plotBottom-plotTop)
}

// axes draws grid lines at 1, 2 and 5 times each power of ten, a tick per
// concurrency level, and the axis titles.
func (c *chart) axes() {
	p := c.p
	for decade := c.yLo; decade < c.yHi*1.01; decade *= 10 {
		for _, m := range []float64{1, 2, 5} {
			v := decade * m
			if v > c.yHi*1.01 {
				break
			}
			p(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`+"\n", plotLeft, c.y(v), plotRight, c.y(v), gridColor(m))
			p(`<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", plotLeft-8, c.y(v)+4, html.EscapeString(shortCount(v)))
		}
	}
	for _, n := range c.conc {
		p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#333"/>`+"\n", c.x(n), plotBottom, c.x(n), plotBottom+5)
		p(`<text x="%.1f" y="%d" text-anchor="middle">%d</text>`+"\n", c.x(n), plotBottom+20, n)
	}
	p(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", plotLeft, plotBottom, plotRight, plotBottom)
	p(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", plotLeft, plotTop, plotLeft, plotBottom)
	p(`<text x="%d" y="%d" text-anchor="middle">concurrency (goroutines, or calls in flight for async; log scale)</text>`+"\n", (plotLeft+plotRight)/2, plotBottom+45)
	p(`<text transform="translate(24 %d) rotate(-90)" text-anchor="middle">calls per second (log scale)</text>`+"\n", (plotTop+plotBottom)/2)
}

// series draws sys's polyline, its points (with a tooltip each) and its
// legend entry, label, at legendY. It reports false, drawing nothing, when
// rs holds no result for sys.
func (c *chart) series(rs []bench.Result, sys, label, color string, dashed bool, legendY int) bool {
	var pts, marks []string
	for _, n := range c.conc {
		r, ok := find(rs, sys, echoAt(n, rs[0].Message))
		if !ok || r.CallsPerSec <= 0 {
			continue
		}
		x, y := c.x(n), c.y(r.CallsPerSec)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		marks = append(marks, fmt.Sprintf(`<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s, concurrency %d: %s calls/s</title></circle>`,
			x, y, color, html.EscapeString(label), n, thousands(r.CallsPerSec)))
	}
	if len(pts) == 0 {
		return false
	}
	dash := ""
	if dashed {
		dash = ` stroke-dasharray="6 4"`
	}
	c.p(`<polyline fill="none" stroke="%s" stroke-width="2.2"%s points="%s"/>`+"\n", color, dash, strings.Join(pts, " "))
	for _, m := range marks {
		c.p("%s\n", m)
	}
	c.p(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2.2"%s/>`+"\n", plotRight+25, legendY, plotRight+55, legendY, color, dash)
	c.p(`<text x="%d" y="%d">%s</text>`+"\n", plotRight+62, legendY+4, html.EscapeString(label))
	return true
}

func echoAt(c int, k message.Kind) (r bench.Result) { r.Concurrency, r.Message = c, k; return r }

func subtitle(rep *Report, k message.Kind) string {
	s := fmt.Sprintf("%d CPUs, loopback TCP, one shared connection, median of %d round(s) × %v", rep.Meta.CPUs, rep.Meta.Rounds, rep.Meta.Duration)
	for _, size := range rep.Meta.Sizes {
		if size.Message == k {
			s += fmt.Sprintf(", %d-byte %s (%s)", size.Bytes, messageNoun(k), size.Encoding)
			break
		}
	}
	return s
}

// messageNoun names k in the chart's subtitle.
func messageNoun(k message.Kind) string {
	switch k {
	case message.AsArray:
		return "as_array message"
	case message.NoStrings:
		return "string-free message"
	}
	return "message"
}

// gridColor draws decade lines darker than the 2× and 5× lines.
func gridColor(m float64) string {
	if m == 1 {
		return "#cfcfcf"
	}
	return "#eeeeee"
}

// shortCount formats an axis value as 250k or 1.5M.
func shortCount(v float64) string {
	switch {
	case v >= 1e6:
		return trimZero(v/1e6) + "M"
	case v >= 1e3:
		return trimZero(v/1e3) + "k"
	}
	return trimZero(v)
}

func trimZero(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}
