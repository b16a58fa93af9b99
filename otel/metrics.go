package otel

import (
	"context"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
)

// DurationBuckets are the bucket boundaries, in seconds, of the call
// duration histograms (rpc.server.call.duration, rpc.client.call.duration):
// the ones OpenTelemetry's semantic conventions advise for RPC and HTTP
// durations.
var DurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// countBuckets are the bucket boundaries of the stream message and size
// histograms: the SDK's default explicit boundaries.
var countBuckets = []float64{0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000}

// MaxSeries bounds the attribute sets one histogram of a Metrics keeps.
// Measurements with a set beyond it are counted in one series with the
// single attribute otel.metric.overflow = true, as the SDK does at its
// cardinality limit.
const MaxSeries = 2000

var overflowSet = attribute.NewSet(attribute.Bool("otel.metric.overflow", true))

// Metrics aggregates the interceptors' measurements inside Ferry and hands
// them to OpenTelemetry when a reader collects: it is a
// go.opentelemetry.io/otel/sdk/metric Producer. Recording a measurement
// costs a few atomic additions instead of the SDK's Record, which matters
// for calls that take microseconds (see Cost in the package doc).
//
// Register it with the SDK reader that exports, and pass it to every
// interceptor with WithMetrics; they then record into it and not into a
// MeterProvider:
//
//	m := ferryotel.NewMetrics()
//	reader := sdkmetric.NewPeriodicReader(exporter, sdkmetric.WithProducer(m))
//	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
//	s := server.New(server.WithInterceptors(ferryotel.ServerInterceptor(ferryotel.WithMetrics(m))))
//
// It produces the same histograms, with the same names, units and
// attributes, as the interceptors record through a MeterProvider:
// cumulative explicit-bucket histograms (DurationBuckets for durations,
// the SDK's default boundaries for stream messages and sizes), under the
// instrumentation scope ScopeName. It keeps no exemplars. A series'
// count is the sum of its buckets; its sum, min and max are read without
// stopping writers, so a collection that meets a measurement in progress
// may count it in the buckets and not yet in the sum. One Metrics may
// serve any number of interceptors and readers; its series live as long
// as it does.
type Metrics struct {
	mu    sync.Mutex
	hists []*histogram // in creation order
	byKey map[string]*histogram
}

var _ sdkmetric.Producer = (*Metrics)(nil)

// NewMetrics returns an empty Metrics.
func NewMetrics() *Metrics { return &Metrics{byKey: map[string]*histogram{}} }

// histogram returns the histogram called name, made on first use.
func (m *Metrics) histogram(name, desc, unit string, bounds []float64, seconds bool) *histogram {
	m.mu.Lock()
	defer m.mu.Unlock()
	if h, ok := m.byKey[name]; ok {
		return h
	}
	h := newHistogram(name, desc, unit, bounds, seconds)
	m.byKey[name] = h
	m.hists = append(m.hists, h)
	return h
}

// Produce returns every histogram's series as they stand: one
// ScopeMetrics, empty histograms left out. It is safe for concurrent use.
func (m *Metrics) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	m.mu.Lock()
	hists := append([]*histogram(nil), m.hists...)
	m.mu.Unlock()
	now := time.Now()
	sm := metricdata.ScopeMetrics{
		Scope: instrumentation.Scope{Name: ScopeName, SchemaURL: semconv.SchemaURL},
	}
	for _, h := range hists {
		if md, ok := h.data(now); ok {
			sm.Metrics = append(sm.Metrics, md)
		}
	}
	if len(sm.Metrics) == 0 {
		return nil, nil
	}
	return []metricdata.ScopeMetrics{sm}, nil
}

// histogram is one instrument: series by attribute set. Values are
// int64: nanoseconds for a duration histogram (seconds set), counts
// otherwise.
type histogram struct {
	name, desc, unit string
	seconds          bool      // values are nanoseconds, produced as float64 seconds
	bounds           []float64 // as produced
	ibounds          []int64   // in recorded units; a value v goes to the first i with v <= ibounds[i]

	series   sync.Map // attribute.Distinct -> *series
	n        atomic.Int32
	overflow atomic.Pointer[series]
}

func newHistogram(name, desc, unit string, bounds []float64, seconds bool) *histogram {
	h := &histogram{name: name, desc: desc, unit: unit, seconds: seconds, bounds: bounds, ibounds: make([]int64, len(bounds))}
	for i, b := range bounds {
		if seconds {
			b *= 1e9
		}
		h.ibounds[i] = int64(math.Floor(b))
	}
	return h
}

// get returns the series of set, made on first use; beyond MaxSeries,
// the overflow series.
func (h *histogram) get(set attribute.Set) *series {
	k := set.Equivalent()
	if v, ok := h.series.Load(k); ok {
		return v.(*series)
	}
	if h.n.Load() >= MaxSeries {
		if s := h.overflow.Load(); s != nil {
			return s
		}
		s := newSeries(overflowSet, len(h.ibounds))
		if h.overflow.CompareAndSwap(nil, s) {
			return s
		}
		return h.overflow.Load()
	}
	v, loaded := h.series.LoadOrStore(k, newSeries(set, len(h.ibounds)))
	if !loaded {
		h.n.Add(1)
	}
	return v.(*series)
}

// series is one attribute set's histogram. Every measurement writes sum
// and one count, and only reads min and max (almost always): they sit on
// cache lines of their own, so that the processors recording at once do
// not take the read-mostly fields from each other, nor from another
// series.
type series struct {
	_        [64]byte
	min, max atomic.Int64
	attrs    attribute.Set
	start    time.Time
	counts   []atomic.Uint64 // len(bounds)+1, an allocation of its own
	_        [64]byte
	sum      atomic.Int64
	_        [64]byte
}

func newSeries(set attribute.Set, nBounds int) *series {
	s := &series{attrs: set, start: time.Now(), counts: make([]atomic.Uint64, nBounds+1)}
	s.min.Store(math.MaxInt64)
	s.max.Store(math.MinInt64)
	return s
}

// record adds one measurement.
func (s *series) record(h *histogram, v int64) {
	b := h.ibounds
	lo, hi := 0, len(b) // the first i with v <= b[i], or len(b)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if v > b[m] {
			lo = m + 1
		} else {
			hi = m
		}
	}
	s.sum.Add(v)
	for m := s.min.Load(); v < m && !s.min.CompareAndSwap(m, v); m = s.min.Load() {
	}
	for m := s.max.Load(); v > m && !s.max.CompareAndSwap(m, v); m = s.max.Load() {
	}
	s.counts[lo].Add(1) // last: a series with a count has its min and max
}

// point is a snapshot of one series.
type point struct {
	attrs         attribute.Set
	start         time.Time
	count         uint64
	counts        []uint64
	sum, min, max int64
}

func (s *series) snapshot() point {
	p := point{attrs: s.attrs, start: s.start, counts: make([]uint64, len(s.counts))}
	for i := range s.counts {
		p.counts[i] = s.counts[i].Load()
		p.count += p.counts[i]
	}
	p.sum, p.min, p.max = s.sum.Load(), s.min.Load(), s.max.Load()
	return p
}

// data returns the histogram's series as metric data, false when none has
// a measurement.
func (h *histogram) data(now time.Time) (metricdata.Metrics, bool) {
	var pts []point
	h.series.Range(func(_, v any) bool {
		if p := v.(*series).snapshot(); p.count > 0 {
			pts = append(pts, p)
		}
		return true
	})
	if s := h.overflow.Load(); s != nil {
		if p := s.snapshot(); p.count > 0 {
			pts = append(pts, p)
		}
	}
	if len(pts) == 0 {
		return metricdata.Metrics{}, false
	}
	// A stable order, for readers and tests.
	sort.Slice(pts, func(i, j int) bool {
		return pts[i].attrs.Encoded(attribute.DefaultEncoder()) < pts[j].attrs.Encoded(attribute.DefaultEncoder())
	})
	md := metricdata.Metrics{Name: h.name, Description: h.desc, Unit: h.unit}
	if h.seconds {
		dps := make([]metricdata.HistogramDataPoint[float64], len(pts))
		for i, p := range pts {
			dps[i] = metricdata.HistogramDataPoint[float64]{
				Attributes: p.attrs, StartTime: p.start, Time: now,
				Count: p.count, Bounds: h.bounds, BucketCounts: p.counts,
				Sum: float64(p.sum) / 1e9,
				Min: metricdata.NewExtrema(float64(p.min) / 1e9),
				Max: metricdata.NewExtrema(float64(p.max) / 1e9),
			}
		}
		md.Data = metricdata.Histogram[float64]{DataPoints: dps, Temporality: metricdata.CumulativeTemporality}
		return md, true
	}
	dps := make([]metricdata.HistogramDataPoint[int64], len(pts))
	for i, p := range pts {
		dps[i] = metricdata.HistogramDataPoint[int64]{
			Attributes: p.attrs, StartTime: p.start, Time: now,
			Count: p.count, Bounds: h.bounds, BucketCounts: p.counts,
			Sum: p.sum, Min: metricdata.NewExtrema(p.min), Max: metricdata.NewExtrema(p.max),
		}
	}
	md.Data = metricdata.Histogram[int64]{DataPoints: dps, Temporality: metricdata.CumulativeTemporality}
	return md, true
}
