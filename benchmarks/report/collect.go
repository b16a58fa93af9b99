// Package report turns the results of every round into medians and writes
// them as a markdown table and an SVG chart.
package report

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/ferryrpc/ferry/benchmarks/bench"
	"github.com/ferryrpc/ferry/benchmarks/message"
)

// Meta describes the run, for the report's header.
type Meta struct {
	Command    string
	Date       time.Time
	GoVersion  string
	Platform   string // GOOS/GOARCH, CPU model, kernel
	CPUs       int
	Warmup     time.Duration
	Duration   time.Duration
	Rounds     int
	Sizes      []Size // encoded size of each message per encoding
	BulkConc   int
	IdleConns  int
	IdleSettle time.Duration // how long the idle connections sat before memory was read
	Baseline   string        // system the "vs" ratio column divides by (grpc-raw)
	Limit      string        // system the "of limit" column divides by (tcp-raw)
	AsyncNames []string
	// Labels are the names tables and the chart show for some systems
	// ("ferry" as "ferry (typed)"); the others show their own name.
	Labels map[string]string
	// Notes are extra lines for the report's header.
	Notes []string
	// StreamBaselines are the systems the stream table's ratio columns
	// divide by (grpc, grpc-raw).
	StreamBaselines []string
}

// Size is the encoded size of one message in one encoding.
type Size struct {
	Message  message.Kind
	Encoding string
	Bytes    int
}

// Label returns the name tables and the chart show for system.
func (m Meta) Label(system string) string {
	if l, ok := m.Labels[system]; ok {
		return l
	}
	return system
}

type key struct {
	system  string
	conc    int
	bulk    int
	window  int
	message message.Kind
}

// Collector gathers the results of every round.
type Collector struct {
	order []string
	runs  map[key][]bench.Result
	idle  map[string][]bench.IdleResult
}

// NewCollector returns a collector that lists systems in order.
func NewCollector(order []string) *Collector {
	return &Collector{order: order, runs: map[key][]bench.Result{}, idle: map[string][]bench.IdleResult{}}
}

// Add records one window's result.
func (c *Collector) Add(r bench.Result) {
	k := key{r.System, r.Concurrency, r.Bulk, r.Window, r.Message}
	c.runs[k] = append(c.runs[k], r)
}

// AddIdle records one idle-memory measurement.
func (c *Collector) AddIdle(r bench.IdleResult) { c.idle[r.System] = append(c.idle[r.System], r) }

// Report holds the medians over rounds, ready to print.
type Report struct {
	Meta    Meta
	Systems []string       // in display order
	Echo    []bench.Result // message workload, by message, concurrency, system
	Bulk    []bench.Result // bulk workload, by system
	Stream  []bench.Result // stream scenario, by streams then system
	Idle    []bench.IdleResult
	// rounds keeps every round's result of each system and workload, in
	// round order, for the ratio columns (Ratio).
	rounds map[key][]bench.Result
}

// Report takes the median of every figure independently over the rounds.
func (c *Collector) Report(meta Meta) *Report {
	rep := &Report{Meta: meta, Systems: c.order, rounds: c.runs}
	rank := map[string]int{}
	for i, s := range c.order {
		rank[s] = i
	}
	keys := make([]key, 0, len(c.runs))
	for k := range c.runs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.window != b.window {
			return a.window < b.window
		}
		if a.message != b.message {
			return a.message < b.message
		}
		if a.bulk != b.bulk || a.conc != b.conc {
			return a.bulk < b.bulk || (a.bulk == b.bulk && a.conc < b.conc)
		}
		return rank[a.system] < rank[b.system]
	})
	for _, k := range keys {
		m := medianResult(c.runs[k])
		switch {
		case k.window > 0:
			rep.Stream = append(rep.Stream, m)
		case k.bulk > 0:
			rep.Bulk = append(rep.Bulk, m)
		default:
			rep.Echo = append(rep.Echo, m)
		}
	}
	for _, s := range c.order {
		if rs := c.idle[s]; len(rs) > 0 {
			rep.Idle = append(rep.Idle, medianIdle(rs))
		}
	}
	return rep
}

// median returns the median of the values f picks from rs (the mean of
// the middle two for an even count).
func median[T any](rs []T, f func(T) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func medDur(rs []bench.Result, f func(bench.Result) time.Duration) time.Duration {
	return time.Duration(median(rs, func(r bench.Result) float64 { return float64(f(r)) }))
}

func medianResult(rs []bench.Result) bench.Result {
	m := rs[0]
	m.Calls = int64(median(rs, func(r bench.Result) float64 { return float64(r.Calls) }))
	m.Elapsed = medDur(rs, func(r bench.Result) time.Duration { return r.Elapsed })
	m.CallsPerSec = median(rs, func(r bench.Result) float64 { return r.CallsPerSec })
	m.P50 = medDur(rs, func(r bench.Result) time.Duration { return r.P50 })
	m.P99 = medDur(rs, func(r bench.Result) time.Duration { return r.P99 })
	m.P999 = medDur(rs, func(r bench.Result) time.Duration { return r.P999 })
	m.AllocsPerCall = median(rs, func(r bench.Result) float64 { return r.AllocsPerCall })
	m.BytesPerCall = median(rs, func(r bench.Result) float64 { return r.BytesPerCall })
	m.CPUPerCall = medDur(rs, func(r bench.Result) time.Duration { return r.CPUPerCall })
	return m
}

func medianIdle(rs []bench.IdleResult) bench.IdleResult {
	m := rs[0]
	m.RSSPerConn = median(rs, func(r bench.IdleResult) float64 { return r.RSSPerConn })
	m.HeapPerConn = median(rs, func(r bench.IdleResult) float64 { return r.HeapPerConn })
	m.StackPerConn = median(rs, func(r bench.IdleResult) float64 { return r.StackPerConn })
	m.GoroutinesPC = median(rs, func(r bench.IdleResult) float64 { return r.GoroutinesPC })
	m.ClientGoroutinesPC = median(rs, func(r bench.IdleResult) float64 { return r.ClientGoroutinesPC })
	m.ServerGoroutinesPC = median(rs, func(r bench.IdleResult) float64 { return r.ServerGoroutinesPC })
	return m
}

// Ratio is r's calls/s over that of system on the same workload: the
// median over the rounds of the ratio within each round (the systems of
// a round run back to back, so a round's ratio compares them under the
// same conditions, and a round that was slow for both moves it little).
// When the two were not measured in the same rounds, it is the ratio of
// their medians. It reports false when system has no result there.
func (rep *Report) Ratio(r bench.Result, system string) (float64, bool) {
	k := key{r.System, r.Concurrency, r.Bulk, r.Window, r.Message}
	bk := k
	bk.system = system
	a, b := rep.rounds[k], rep.rounds[bk]
	if len(a) > 0 && len(a) == len(b) {
		per := make([]float64, 0, len(a))
		for i := range a {
			if b[i].CallsPerSec > 0 {
				per = append(per, a[i].CallsPerSec/b[i].CallsPerSec)
			}
		}
		if len(per) == len(a) {
			return median(per, func(v float64) float64 { return v }), true
		}
	}
	if len(b) == 0 {
		return 0, false
	}
	base := medianResult(b)
	if base.CallsPerSec == 0 {
		return 0, false
	}
	return r.CallsPerSec / base.CallsPerSec, true
}

// find returns the result of system among rs with the same concurrency,
// payload, message and window as like.
func find(rs []bench.Result, system string, like bench.Result) (bench.Result, bool) {
	for _, r := range rs {
		if r.System == system && r.Concurrency == like.Concurrency && r.Bulk == like.Bulk &&
			r.Window == like.Window && r.Message == like.Message {
			return r, true
		}
	}
	return bench.Result{}, false
}

// messages returns the distinct messages in rs, in Kind order.
func messages(rs []bench.Result) []message.Kind {
	var ks []message.Kind
	for _, r := range rs {
		if !slices.Contains(ks, r.Message) {
			ks = append(ks, r.Message)
		}
	}
	slices.Sort(ks)
	return ks
}

// ofMessage returns the results in rs that echo k.
func ofMessage(rs []bench.Result, k message.Kind) []bench.Result {
	var out []bench.Result
	for _, r := range rs {
		if r.Message == k {
			out = append(out, r)
		}
	}
	return out
}

// sizes returns the sizes of k in every encoding, as "msgpack 610 B".
func (m Meta) sizes(k message.Kind) []string {
	var out []string
	for _, s := range m.Sizes {
		if s.Message == k {
			out = append(out, fmt.Sprintf("%s %d B", s.Encoding, s.Bytes))
		}
	}
	return out
}

// concurrencies returns the distinct concurrency levels in rs, ascending.
func concurrencies(rs []bench.Result) []int {
	var cs []int
	for _, r := range rs {
		if !slices.Contains(cs, r.Concurrency) {
			cs = append(cs, r.Concurrency)
		}
	}
	slices.Sort(cs)
	return cs
}
