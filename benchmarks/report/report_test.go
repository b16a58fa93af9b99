package report

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/benchmarks/bench"
	"github.com/ferryrpc/ferry/benchmarks/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sample() *Report {
	c := NewCollector([]string{"ferry", "ferry-reflect", "grpc-raw", "tcp-raw"})
	for round, scale := range []float64{1, 3, 2} {
		for _, sys := range []string{"ferry", "grpc-raw", "tcp-raw"} {
			for _, conc := range []int{1, 16, 256} {
				c.Add(bench.Result{System: sys, Concurrency: conc, CallsPerSec: scale * float64(conc) * 1000,
					P50: time.Duration(round+1) * time.Microsecond, AllocsPerCall: 2})
			}
			// The string-free message, at two levels, 3× faster for tcp-raw.
			for _, conc := range []int{1, 256} {
				f := 1.0
				if sys == "tcp-raw" {
					f = 3
				}
				c.Add(bench.Result{System: sys, Concurrency: conc, Message: message.NoStrings, CallsPerSec: f * scale * float64(conc) * 500})
			}
			c.Add(bench.Result{System: sys, Concurrency: 4, Bulk: 1 << 20, CallsPerSec: scale * 100})
			c.Add(bench.Result{System: sys, Concurrency: 16, Window: 64, MessageBytes: 1024, CallsPerSec: scale * 1024 * 100})
		}
		c.Add(bench.Result{System: "ferry-reflect", Concurrency: 16, CallsPerSec: scale * 8000})
		c.AddIdle(bench.IdleResult{System: "ferry", Conns: 10, RSSPerConn: scale * 1024, GoroutinesPC: 9 + scale, ClientGoroutinesPC: 4 + scale, ServerGoroutinesPC: 5})
	}
	return c.Report(Meta{Rounds: 3, CPUs: 2, Baseline: "grpc-raw", Limit: "tcp-raw", BulkConc: 4, IdleConns: 10,
		Sizes:           []Size{{message.Default, "msgpack", 610}, {message.NoStrings, "msgpack", 607}, {message.NoStrings, "protobuf", 590}},
		StreamBaselines: []string{"grpc-raw"}, Notes: []string{"a note"}, Labels: map[string]string{"ferry": "ferry (typed)", "ferry-reflect": "ferry (reflect)"}})
}

func TestMediansAndOrder(t *testing.T) {
	rep := sample()
	require.Len(t, rep.Echo, 9+1+6)
	require.Len(t, rep.Bulk, 3)
	require.Len(t, rep.Stream, 3)
	assert.InDelta(t, 2*1024*100.0, rep.Stream[0].CallsPerSec, 1e-9)
	assert.Equal(t, "ferry", rep.Echo[0].System)
	assert.Equal(t, 1, rep.Echo[0].Concurrency)
	assert.Equal(t, 256, rep.Echo[9].Concurrency)
	assert.Equal(t, "ferry-reflect", rep.Echo[4].System, "after ferry at the same level")
	assert.Equal(t, message.NoStrings, rep.Echo[10].Message, "the default message first")
	assert.Equal(t, "tcp-raw", rep.Echo[15].System)
	assert.Equal(t, 256, rep.Echo[15].Concurrency)
	assert.InDelta(t, 2000.0, rep.Echo[0].CallsPerSec, 1e-9) // median of 1000, 3000, 2000
	assert.Equal(t, 2*time.Microsecond, rep.Echo[0].P50)
	require.Len(t, rep.Idle, 1)
	assert.InDelta(t, 2048.0, rep.Idle[0].RSSPerConn, 1e-9)
	assert.InDelta(t, 11.0, rep.Idle[0].GoroutinesPC, 1e-9)
}

func TestMarkdown(t *testing.T) {
	var b strings.Builder
	require.NoError(t, Markdown(&b, sample()))
	out := b.String()
	assert.Contains(t, out, "\n- a note\n")
	assert.Contains(t, out, "| 16 | ferry (typed) | 32,000 |")
	assert.Contains(t, out, "| 16 | ferry (reflect) | 16,000 |")
	assert.Contains(t, out, "| 16 | ferry (reflect) | 16,000 | 0.00 | 0.00 | 0.00 | 0.0 | 0 | 0.00 | 0.50× | 0.50× |")
	assert.Contains(t, out, "1.00×")
	// The string-free table divides by its own rows, not the default message's.
	assert.Contains(t, out, "## Echo of the string-free message\n\nA record of about the same size with no strings")
	assert.Contains(t, out, "(msgpack 607 B, protobuf 590 B)")
	assert.Contains(t, out, "| 256 | ferry (typed) | 256,000 | 0.00 | 0.00 | 0.00 | 0.0 | 0 | 0.00 | 1.00× | 0.33× |")
	assert.Less(t, strings.Index(out, "## Echo of the message\n"), strings.Index(out, "## Echo of the string-free message"))
	assert.NotContains(t, out, "declared as_array", "no table for a message that did not run")
	assert.Contains(t, out, "| ferry (typed) | 2.0 | 0.0 | 0.0 | 11.0 | 6.0 | 5.0 |")
	assert.Contains(t, out, "## Bulk: 1 MiB payload echoed, 4 goroutines")
	assert.Contains(t, out, "## Bidirectional streams: the message pipelined, 64 in flight per stream")
	assert.Contains(t, out, "| 16 | ferry (typed) | 204,800 | 200.0 | 1024 |")
	assert.Contains(t, out, "| vs grpc-raw |")
}

func TestSVGIsWellFormed(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, SVG(&b, sample(), "tcp-raw"))
	dec := xml.NewDecoder(&b)
	polylines := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			polylines++
		}
	}
	assert.Equal(t, 4, polylines, "the default message's systems, ferry-reflect included")
}

func TestSVGLabelsAndMessage(t *testing.T) {
	var b strings.Builder
	require.NoError(t, SVG(&b, sample(), "tcp-raw"))
	out := b.String()
	assert.Contains(t, out, ">ferry (reflect)</text>")
	assert.Contains(t, out, "610-byte message (msgpack)")
	assert.NotContains(t, out, "768,000 calls/s", "a string-free result in the default message's chart")
}

func TestFormatting(t *testing.T) {
	assert.Equal(t, "1,234,568", thousands(1234567.6))
	assert.Equal(t, "999", thousands(999))
	assert.Equal(t, "5.60", micros(5600*time.Nanosecond))
	assert.Equal(t, "1,253", micros(1253*time.Microsecond))
	assert.Equal(t, "1.5M", shortCount(1.5e6))
}

// TestRatioPairsRounds: a ratio column is the median of the ratios within
// each round, not the quotient of the medians; a system not measured in
// the same rounds falls back to that quotient, and one with no result at
// all gives none.
func TestRatioPairsRounds(t *testing.T) {
	c := NewCollector([]string{"a", "b", "c"})
	// Round by round a/b is 1, 3, 1: median 1. The medians are 20 and 10:
	// their quotient would be 2.
	for _, pair := range [][2]float64{{10, 10}, {30, 10}, {20, 20}} {
		c.Add(bench.Result{System: "a", Concurrency: 1, CallsPerSec: pair[0]})
		c.Add(bench.Result{System: "b", Concurrency: 1, CallsPerSec: pair[1]})
	}
	c.Add(bench.Result{System: "c", Concurrency: 1, CallsPerSec: 5}) // one round only
	rep := c.Report(Meta{Rounds: 3, Baseline: "b", Limit: "c"})
	require.Len(t, rep.Echo, 3)
	a := rep.Echo[0]
	require.Equal(t, "a", a.System)
	assert.InDelta(t, 20.0, a.CallsPerSec, 1e-9)
	v, ok := rep.Ratio(a, "b")
	require.True(t, ok)
	assert.InDelta(t, 1.0, v, 1e-9, "the median of the per-round ratios")
	v, ok = rep.Ratio(a, "c")
	require.True(t, ok)
	assert.InDelta(t, 4.0, v, 1e-9, "rounds that do not pair: the quotient of the medians")
	_, ok = rep.Ratio(a, "nobody")
	assert.False(t, ok)
	var md bytes.Buffer
	require.NoError(t, Markdown(&md, rep))
	assert.Contains(t, md.String(), "| 1 | a | 20 |")
	assert.Contains(t, md.String(), " 1.00× | 4.00× |")
}
