package report

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/ferryrpc/ferry/benchmarks/bench"
	"github.com/ferryrpc/ferry/benchmarks/message"
)

// Markdown writes the report as markdown tables with a short header that
// says how and where it was measured.
func Markdown(w io.Writer, rep *Report) error {
	bw := bufio.NewWriter(w)
	m := rep.Meta
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	p("# Ferry and its peers: loopback RPC comparison\n\n")
	p("Measured %s with `%s`.\n\n", m.Date.UTC().Format("2006-01-02 15:04 MST"), m.Command)
	p("- machine: %s, %d CPUs, %s\n", m.Platform, m.CPUs, m.GoVersion)
	p("- client and server in one process over loopback TCP; one connection (one client) shared by all workers\n")
	p("- each figure is the median over %d round(s) of a %v window after a %v warm-up; systems run round-robin within each round\n", m.Rounds, m.Duration, m.Warmup)
	p("- the message (%s) is echoed and fully decoded by the client, except by the raw systems, which pass its MessagePack bytes through\n", strings.Join(m.sizes(message.Default), ", "))
	p("- allocations and CPU cover client and server together (one process); CPU is getrusage user+sys\n")
	if len(m.AsyncNames) > 0 {
		p("- concurrency is the number of goroutines making blocking calls, except for %s: calls kept in flight with Go from ONE goroutine\n", strings.Join(m.AsyncNames, ", "))
	}
	p("- vs %s and vs %s: calls/s divided by theirs at the same concurrency in the same round, the median over the rounds (so a ratio need not equal the quotient of the two medians shown)\n", m.Baseline, m.Limit)
	for _, n := range m.Notes {
		p("- %s\n", n)
	}
	for _, k := range messages(rep.Echo) {
		p("\n## %s\n\n", echoTitle(k))
		if note := echoNote(k, m); note != "" {
			p("%s\n\n", note)
		}
		echoTable(p, rep, ofMessage(rep.Echo, k))
	}
	if len(rep.Bulk) > 0 {
		p("\n## Bulk: %s payload echoed, %d goroutines\n\n", sizeName(rep.Bulk[0].Bulk), m.BulkConc)
		bulkTable(p, rep)
	}
	if len(rep.Stream) > 0 {
		p("\n## Bidirectional streams: the message pipelined, %d in flight per stream\n\n", rep.Stream[0].Window)
		streamTable(p, rep)
	}
	if len(rep.Idle) > 0 {
		p("\n## Memory per idle connection (%d connections, client and server ends together)\n\n", m.IdleConns)
		p("Each connection made one call, then sat idle for %v (-idle-settle); process growth after GC divided by the connection count.\n", m.IdleSettle)
		p("Goroutines: runtime.NumGoroutine's growth, both ends; the client and server columns split it by the end that started them\n")
		p("(a profiler label the goroutines inherit), so they can sum to less when a timer started one.\n\n")
		p("| system | RSS KiB/conn | Go heap KiB/conn | stacks KiB/conn | goroutines/conn | client | server |\n|---|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range rep.Idle {
			p("| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |\n", m.Label(r.System), r.RSSPerConn/1024, r.HeapPerConn/1024,
				r.StackPerConn/1024, r.GoroutinesPC, r.ClientGoroutinesPC, r.ServerGoroutinesPC)
		}
	}
	return bw.Flush()
}

// echoTitle is the heading of k's echo table.
func echoTitle(k message.Kind) string {
	switch k {
	case message.Default:
		return "Echo of the message"
	case message.AsArray:
		return "Echo of the message declared as_array"
	case message.NoStrings:
		return "Echo of the string-free message"
	}
	return "Echo of " + k.String()
}

// echoNote says what k is and how each system encodes it; empty for the
// message the header describes.
func echoNote(k message.Kind, m Meta) string {
	sizes := strings.Join(m.sizes(k), ", ")
	switch k {
	case message.AsArray:
		return fmt.Sprintf("The same fields and values, declared `msgpack:\",as_array\"`: a positional array without keys (%s). "+
			"Ferry encodes it so and the raw systems send those bytes; protobuf and gob have no such form, "+
			"so grpc sends the same protobuf message as above and netrpc-gob the same gob.", sizes)
	case message.NoStrings:
		return fmt.Sprintf("A record of about the same size with no strings: 20 integer, float and boolean fields, "+
			"a 300-byte blob, two number lists and a nested struct of 8 numbers and booleans (%s). "+
			"Each system uses its own encoding as above (grpc: the protobuf `Numbers`).", sizes)
	}
	return ""
}

func echoTable(p func(string, ...any), rep *Report, rs []bench.Result) {
	m := rep.Meta
	p("| conc | system | calls/s | p50 µs | p99 µs | p99.9 µs | allocs/call | B/call | CPU µs/call | vs %s | vs %s |\n", m.Baseline, m.Limit)
	p("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rs {
		p("| %d | %s | %s | %s | %s | %s | %.1f | %s | %s | %s | %s |\n", r.Concurrency, m.Label(r.System),
			thousands(r.CallsPerSec), micros(r.P50), micros(r.P99), micros(r.P999),
			r.AllocsPerCall, thousands(r.BytesPerCall), micros(r.CPUPerCall),
			rep.ratio(r, m.Baseline), rep.ratio(r, m.Limit))
	}
}

func bulkTable(p func(string, ...any), rep *Report) {
	m := rep.Meta
	p("MiB/s counts the payload once per call (it crosses the connection once each way).\n\n")
	p("| system | MiB/s | calls/s | p50 ms | p99 ms | allocs/call | KiB/call | CPU µs/call | vs %s | vs %s |\n", m.Baseline, m.Limit)
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rep.Bulk {
		p("| %s | %s | %s | %.2f | %.2f | %.1f | %s | %s | %s | %s |\n", m.Label(r.System),
			thousands(r.CallsPerSec*float64(r.Bulk)/(1<<20)), thousands(r.CallsPerSec),
			r.P50.Seconds()*1e3, r.P99.Seconds()*1e3, r.AllocsPerCall, thousands(r.BytesPerCall/1024),
			micros(r.CPUPerCall), rep.ratio(r, m.Baseline), rep.ratio(r, m.Limit))
	}
}

func streamTable(p func(string, ...any), rep *Report) {
	m := rep.Meta
	p("One bidirectional stream per worker, all on one connection. Per stream, a sender keeps up to %d messages in flight\n", rep.Stream[0].Window)
	p("while a receiver takes their echoes; the server sends back each message it receives. Ferry and grpc decode every\n")
	p("message on both ends; grpc-raw passes the MessagePack bytes through (no codec work). msgs/s counts echoes received.\n")
	p("MiB/s is msgs/s times the message's payload size in the system's own encoding (\"msg B\", framing excluded), counted\n")
	p("once per echo although the message crosses the connection both ways. Allocations and CPU are per echoed message,\n")
	p("client and server together.\n\n")
	p("| streams | system | msgs/s | MiB/s | msg B | allocs/msg | B/msg | CPU µs/msg |")
	for _, b := range m.StreamBaselines {
		p(" vs %s |", b)
	}
	p("\n|---:|---|---:|---:|---:|---:|---:|---:|%s\n", strings.Repeat("---:|", len(m.StreamBaselines)))
	for _, r := range rep.Stream {
		p("| %d | %s | %s | %.1f | %d | %.1f | %s | %s |", r.Concurrency, m.Label(r.System), thousands(r.CallsPerSec),
			r.CallsPerSec*float64(r.MessageBytes)/(1<<20), r.MessageBytes, r.AllocsPerCall, thousands(r.BytesPerCall), micros(r.CPUPerCall))
		for _, b := range m.StreamBaselines {
			p(" %s |", rep.ratio(r, b))
		}
		p("\n")
	}
}

// ratio formats Ratio, or "–" when there is none.
func (rep *Report) ratio(r bench.Result, system string) string {
	v, ok := rep.Ratio(r, system)
	if !ok {
		return "–"
	}
	return fmt.Sprintf("%.2f×", v)
}

// micros formats d in microseconds with three significant digits or more.
func micros(d time.Duration) string {
	us := float64(d) / 1e3
	switch {
	case us < 10:
		return strconv.FormatFloat(us, 'f', 2, 64)
	case us < 100:
		return strconv.FormatFloat(us, 'f', 1, 64)
	}
	return thousands(us)
}

// thousands formats v rounded to an integer with comma separators.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// sizeName formats a byte count as KiB or MiB when it divides evenly.
func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
