package otel

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// produced returns m's one histogram called name.
func produced(t *testing.T, m *Metrics, name string) metricdata.Metrics {
	t.Helper()
	sms, err := m.Produce(context.Background())
	require.NoError(t, err)
	require.Len(t, sms, 1)
	assert.Equal(t, ScopeName, sms[0].Scope.Name)
	for _, md := range sms[0].Metrics {
		if md.Name == name {
			return md
		}
	}
	require.Failf(t, "no such histogram", "%s in %v", name, sms[0].Metrics)
	return metricdata.Metrics{}
}

func TestMetricsBuckets(t *testing.T) {
	m := NewMetrics()
	h := m.histogram("d", "durations", "s", []float64{0.001, 0.01}, true)
	set := attribute.NewSet(attribute.String("k", "v"))
	// Upper bounds are inclusive: (-inf, 1ms], (1ms, 10ms], (10ms, +inf).
	for _, d := range []time.Duration{500 * time.Microsecond, time.Millisecond, time.Millisecond + 1, 10 * time.Millisecond, time.Second} {
		h.get(set).record(h, int64(d))
	}
	md := produced(t, m, "d")
	assert.Equal(t, "durations", md.Description)
	assert.Equal(t, "s", md.Unit)
	hd, ok := md.Data.(metricdata.Histogram[float64])
	require.True(t, ok)
	require.Len(t, hd.DataPoints, 1)
	dp := hd.DataPoints[0]
	assert.Equal(t, set, dp.Attributes)
	assert.Equal(t, []float64{0.001, 0.01}, dp.Bounds)
	assert.Equal(t, []uint64{2, 2, 1}, dp.BucketCounts)
	assert.Equal(t, uint64(5), dp.Count)
	assert.InDelta(t, 0.0005+0.001+0.001000001+0.01+1, dp.Sum, 1e-12)
	lo, _ := dp.Min.Value()
	hi, _ := dp.Max.Value()
	assert.Equal(t, 0.0005, lo)
	assert.Equal(t, 1.0, hi)
	assert.False(t, dp.StartTime.After(dp.Time))

	c := m.histogram("n", "counts", "{message}", countBuckets, false)
	for _, v := range []int64{0, 3, 10000, 10001} {
		c.get(set).record(c, v)
	}
	cd, ok := produced(t, m, "n").Data.(metricdata.Histogram[int64])
	require.True(t, ok)
	require.Len(t, cd.DataPoints, 1)
	want := make([]uint64, len(countBuckets)+1)
	want[0], want[1], want[len(countBuckets)-1], want[len(countBuckets)] = 1, 1, 1, 1
	assert.Equal(t, want, cd.DataPoints[0].BucketCounts)
	assert.Equal(t, int64(20004), cd.DataPoints[0].Sum)
	assert.Same(t, h, m.histogram("d", "", "", nil, true), "one histogram per name")
}

func TestMetricsEmptyProducesNothing(t *testing.T) {
	m := NewMetrics()
	m.histogram("d", "", "s", DurationBuckets, true)
	sms, err := m.Produce(context.Background())
	require.NoError(t, err)
	assert.Empty(t, sms, "a histogram without measurements is left out")
}

func TestMetricsOverflow(t *testing.T) {
	m := NewMetrics()
	h := m.histogram("d", "", "s", DurationBuckets, true)
	for i := range MaxSeries + 10 {
		h.get(attribute.NewSet(attribute.Int("i", i))).record(h, 1000)
	}
	hd := produced(t, m, "d").Data.(metricdata.Histogram[float64])
	require.Len(t, hd.DataPoints, MaxSeries+1)
	var over uint64
	for _, dp := range hd.DataPoints {
		if v, ok := dp.Attributes.Value("otel.metric.overflow"); ok {
			assert.True(t, v.AsBool())
			over += dp.Count
		}
	}
	assert.Equal(t, uint64(10), over, "the sets beyond MaxSeries share one series")
}

// TestMetricsConcurrent records from several goroutines while readers
// collect (run it with -race): nothing is lost, and every collection's
// count is the sum of its buckets.
func TestMetricsConcurrent(t *testing.T) {
	m := NewMetrics()
	h := m.histogram("d", "", "s", DurationBuckets, true)
	const writers, each = 8, 2000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			set := attribute.NewSet(attribute.String("code", fmt.Sprint(w%2)))
			for i := range each {
				h.get(set).record(h, int64(i)*int64(time.Millisecond))
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for collecting := true; collecting; {
		select {
		case <-done:
			collecting = false
		default:
		}
		sms, err := m.Produce(context.Background())
		require.NoError(t, err)
		for _, sm := range sms {
			for _, dp := range sm.Metrics[0].Data.(metricdata.Histogram[float64]).DataPoints {
				var n uint64
				for _, b := range dp.BucketCounts {
					n += b
				}
				require.Equal(t, dp.Count, n)
				lo, _ := dp.Min.Value()
				hi, _ := dp.Max.Value()
				require.LessOrEqual(t, lo, hi)
			}
		}
	}
	hd := produced(t, m, "d").Data.(metricdata.Histogram[float64])
	require.Len(t, hd.DataPoints, 2)
	for _, dp := range hd.DataPoints {
		assert.Equal(t, uint64(writers/2*each), dp.Count)
		assert.InDelta(t, float64(writers/2)*float64(each*(each-1)/2)*1e-3, dp.Sum, 1e-6)
		hi, _ := dp.Max.Value()
		assert.InDelta(t, float64(each-1)*1e-3, hi, 1e-12)
	}
}

// TestMeasuringOnlyWhatIsRecorded: the package doc says a call that
// nothing records reads no clock for it. The interceptors read the clock
// only when measuring says so: with a Metrics, or with a MeterProvider
// whose histogram records; not with a no-op provider, nor with an SDK
// provider whose view drops the duration histograms.
func TestMeasuringOnlyWhatIsRecorded(t *testing.T) {
	ctx := context.Background()
	drop := sdkmetric.NewView(sdkmetric.Instrument{Name: "rpc.*.call.duration"},
		sdkmetric.Stream{Aggregation: sdkmetric.AggregationDrop{}})
	cases := []struct {
		name string
		opt  Option
		want bool
	}{
		{"metrics", WithMetrics(NewMetrics()), true},
		{"sdk", WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))), true},
		{"noop", WithMeterProvider(metricnoop.NewMeterProvider()), false},
		{"dropped", WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()), sdkmetric.WithView(drop))), false},
	}
	for _, c := range cases {
		for _, serverSide := range []bool{false, true} {
			in := newInstruments([]Option{c.opt, WithTracerProvider(tracenoop.NewTracerProvider())}, serverSide)
			assert.Equal(t, c.want, in.measuring(ctx), "%s, server side %v", c.name, serverSide)
		}
	}
}
