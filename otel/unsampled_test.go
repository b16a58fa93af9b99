package otel_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	ferryotel "github.com/ferryrpc/ferry/otel"
	"github.com/ferryrpc/ferry/server"
)

// TestUnsampledTraceMakesNoSpans: inside a trace that is not sampled,
// neither side starts a span, even with a sampler that would sample every
// span it is asked about, yet the trace context (and its decision)
// reaches the handler, and durations are still measured.
func TestUnsampledTraceMakesNoSpans(t *testing.T) {
	tel := newTelemetry(t)
	always := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(tel.spans))
	defer func() { _ = always.Shutdown(context.Background()) }()
	tel.opts = append(tel.opts, ferryotel.WithTracerProvider(always))
	s := server.New(server.WithInterceptors(ferryotel.ServerInterceptor(tel.opts...)))
	seen := make(chan trace.SpanContext, 1)
	require.NoError(t, server.Handle(s, "Svc.Add", func(ctx context.Context, a *Args) (*int64, error) {
		seen <- trace.SpanContextFromContext(ctx)
		r := a.A + a.B
		return &r, nil
	}))
	cc, sc := net.Pipe()
	done := make(chan struct{})
	go func() { defer close(done); _ = s.ServeConn(sc) }()
	c, err := client.New(cc, client.WithInterceptors(ferryotel.ClientInterceptor(tel.opts...)))
	require.NoError(t, err)
	defer func() { c.Close(); s.Close(); <-done }()

	never := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	ctx, root := never.Tracer("test").Start(t.Context(), "root")
	require.True(t, root.SpanContext().IsValid())
	require.False(t, root.SpanContext().IsSampled())
	var r int64
	require.NoError(t, c.Call(ctx, "Svc.Add", Args{A: 1, B: 2}, &r))
	root.End()

	got := <-seen
	assert.Equal(t, root.SpanContext().TraceID(), got.TraceID(), "the trace context crossed")
	assert.False(t, got.IsSampled(), "and its decision")
	assert.Empty(t, tel.spans.Ended(), "no span on either side")
	assert.Equal(t, 2, histogramCount(t, tel), "both durations measured")

	// A sampled call still makes both spans.
	ctx, sampled := sdktrace.NewTracerProvider().Tracer("test").Start(t.Context(), "root")
	require.NoError(t, c.Call(ctx, "Svc.Add", Args{A: 1, B: 2}, &r))
	sampled.End()
	<-seen
	assert.Len(t, tel.spans.Ended(), 2)
}

// histogramCount returns the number of durations recorded so far.
func histogramCount(t *testing.T, tel *telemetry) int {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, tel.reader.Collect(t.Context(), &rm))
	n := 0
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok {
				for _, dp := range h.DataPoints {
					n += int(dp.Count)
				}
			}
		}
	}
	return n
}

// countingProvider counts the spans its tracers are asked to start.
type countingProvider struct {
	embedded.TracerProvider
	tp trace.TracerProvider
	n  *atomic.Int32
}

func newCounting(tp trace.TracerProvider) countingProvider {
	return countingProvider{tp: tp, n: new(atomic.Int32)}
}

func (p countingProvider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return countingTracer{t: p.tp.Tracer(name, opts...), n: p.n}
}

type countingTracer struct {
	embedded.Tracer
	t trace.Tracer
	n *atomic.Int32
}

func (t countingTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	t.n.Add(1)
	return t.t.Start(ctx, name, opts...)
}

// decisionPair serves Svc.Ask, which calls the client's Client.Ping back,
// the server's interceptors on serverTP and the client's on clientTP; each
// handler sends the span context it runs in on the returned channel.
func decisionPair(t *testing.T, serverTP, clientTP trace.TracerProvider) (*client.Client, chan trace.SpanContext) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	common := []ferryotel.Option{ferryotel.WithMeterProvider(mp), ferryotel.WithPropagators(propagation.TraceContext{})}
	sopts := append([]ferryotel.Option{ferryotel.WithTracerProvider(serverTP)}, common...)
	copts := append([]ferryotel.Option{ferryotel.WithTracerProvider(clientTP)}, common...)
	seen := make(chan trace.SpanContext, 2)
	s := server.New(
		server.WithInterceptors(ferryotel.ServerInterceptor(sopts...)),
		server.WithClientInterceptors(ferryotel.ClientInterceptor(sopts...)),
	)
	require.NoError(t, server.Handle(s, "Svc.Ask", func(ctx context.Context, q *string) (*string, error) {
		seen <- trace.SpanContextFromContext(ctx)
		var answer string
		err := server.PeerFromContext(ctx).Call(ctx, "Client.Ping", *q, &answer)
		return &answer, err
	}))
	cc, sc := net.Pipe()
	done := make(chan struct{})
	go func() { defer close(done); _ = s.ServeConn(sc) }()
	c, err := client.New(cc,
		client.WithInterceptors(ferryotel.ClientInterceptor(copts...)),
		client.WithServerInterceptors(ferryotel.ServerInterceptor(copts...)),
	)
	require.NoError(t, err)
	require.NoError(t, client.Handle(c, "Client.Ping", func(ctx context.Context, q *string) (*string, error) {
		seen <- trace.SpanContextFromContext(ctx)
		r := "pong: " + *q
		return &r, nil
	}))
	t.Cleanup(func() { c.Close(); s.Close(); <-done })
	return c, seen
}

// TestUnsampledRootStartsNoFurtherSpans: a call outside any trace, which
// the caller's sampler does not sample, asks the caller's tracer for one
// span (the sampling decision) and no other tracer for any, though the
// server's sampler would sample everything: the decision travels with the
// trace context, to the handler and back in the handler's callback.
func TestUnsampledRootStartsNoFurtherSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	clientTP := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0))), sdktrace.WithSpanProcessor(rec))
	serverTP := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(rec))
	defer func() { _ = clientTP.Shutdown(context.Background()); _ = serverTP.Shutdown(context.Background()) }()
	ctp, stp := newCounting(clientTP), newCounting(serverTP)
	c, seen := decisionPair(t, stp, ctp)

	for range 3 {
		var answer string
		require.NoError(t, c.Call(t.Context(), "Svc.Ask", "hi", &answer))
		assert.Equal(t, "pong: hi", answer)
		ask, ping := <-seen, <-seen
		assert.True(t, ask.IsValid(), "the root's context reached the handler")
		assert.False(t, ask.IsSampled())
		assert.True(t, ask.IsRemote())
		assert.Equal(t, ask.TraceID(), ping.TraceID(), "and the callback's handler")
		assert.False(t, ping.IsSampled())
	}
	assert.Equal(t, int32(3), ctp.n.Load(), "one root decision per call, on the caller")
	assert.Equal(t, int32(0), stp.n.Load(), "no span started on the server, nor for its callback")
	assert.Empty(t, rec.Started())
	assert.Empty(t, rec.Ended())
}

// TestSampledParentDecisionCrosses: a sampled caller's decision holds on
// a server whose own sampler samples nothing (the SDK's default
// ParentBased), there and in the callback.
func TestSampledParentDecisionCrosses(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	clientTP := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(rec))
	serverTP := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())), sdktrace.WithSpanProcessor(rec))
	defer func() { _ = clientTP.Shutdown(context.Background()); _ = serverTP.Shutdown(context.Background()) }()
	c, seen := decisionPair(t, serverTP, clientTP)

	var answer string
	require.NoError(t, c.Call(t.Context(), "Svc.Ask", "hi", &answer))
	ask, ping := <-seen, <-seen
	assert.True(t, ask.IsSampled())
	assert.False(t, ask.IsRemote(), "the handler runs in the server's own span")
	assert.True(t, ping.IsSampled())
	spans := rec.Ended()
	require.Len(t, spans, 4, "client, server, callback client, callback server")
	for _, s := range spans {
		assert.Equal(t, ask.TraceID(), s.SpanContext().TraceID())
		assert.True(t, s.SpanContext().IsSampled())
	}
}

// TestUnsampledStreamMakesNoSpans: the stream interceptors, too, start no
// span inside a trace that is not sampled, either way, yet pass the trace
// context on and measure the streams.
func TestUnsampledStreamMakesNoSpans(t *testing.T) {
	tel := newTelemetry(t)
	always := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(tel.spans))
	defer func() { _ = always.Shutdown(context.Background()) }()
	counting := newCounting(always)
	tel.opts = append(tel.opts, ferryotel.WithTracerProvider(counting))
	c, peers := streamPair(t, tel)
	p := <-peers

	never := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	ctx, root := never.Tracer("test").Start(t.Context(), "root")
	require.NoError(t, chat(t, ctx, c, "a", "bb"))
	require.NoError(t, chat(t, ctx, p, "x"))
	root.End()

	assert.Equal(t, int32(0), counting.n.Load())
	assert.Empty(t, tel.spans.Ended())
	var rm metricdata.ResourceMetrics
	require.NoError(t, tel.reader.Collect(t.Context(), &rm))
	durations := 0
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok {
				for _, dp := range h.DataPoints {
					durations += int(dp.Count)
				}
			}
		}
	}
	assert.Equal(t, 4, durations, "two streams, both ends measured")

	// A sampled stream still makes its two spans.
	ctx, sampled := sdktrace.NewTracerProvider().Tracer("test").Start(t.Context(), "root")
	require.NoError(t, chat(t, ctx, c, "a"))
	sampled.End()
	assert.Len(t, tel.spans.Ended(), 2)
}

// TestMetricAttributesPerMethodAndCode: the cached attribute sets are
// each call's own: interleaved calls of two methods, each ending in
// several codes, are counted under exactly their method and code,
// error.type only on failures.
func TestMetricAttributesPerMethodAndCode(t *testing.T) {
	tel := newTelemetry(t)
	s := server.New(server.WithInterceptors(ferryotel.ServerInterceptor(tel.opts...)))
	// Svc.A and Svc.B fail with the code their argument A names (0: no failure).
	for _, name := range []string{"Svc.A", "Svc.B"} {
		require.NoError(t, server.Handle(s, name, func(ctx context.Context, a *Args) (*int64, error) {
			if a.A != 0 {
				return nil, ferry.NewError(ferry.Code(a.A), "asked to fail")
			}
			return &a.B, nil
		}))
	}
	cc, sc := net.Pipe()
	done := make(chan struct{})
	go func() { defer close(done); _ = s.ServeConn(sc) }()
	c, err := client.New(cc, client.WithInterceptors(ferryotel.ClientInterceptor(tel.opts...)))
	require.NoError(t, err)
	defer func() { c.Close(); s.Close(); <-done }()

	calls := []struct {
		method string
		code   ferry.Code
	}{
		{"Svc.A", 0}, {"Svc.A", ferry.CodeInvalidArgument}, {"Svc.B", ferry.CodeInternal}, {"Svc.A", 0},
		{"Svc.B", 0}, {"Svc.A", ferry.CodeInternal}, {"Svc.A", ferry.CodeInvalidArgument}, {"Svc.B", 0},
	}
	var r int64
	for _, call := range calls {
		err := c.Call(t.Context(), call.method, Args{A: int64(call.code)}, &r)
		assert.Equal(t, call.code, ferry.CodeOf(err), call.method)
	}

	var rm metricdata.ResourceMetrics
	require.NoError(t, tel.reader.Collect(t.Context(), &rm))
	got := map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			h, ok := m.Data.(metricdata.Histogram[float64])
			require.True(t, ok, m.Name)
			for _, dp := range h.DataPoints {
				key := m.Name
				for _, kv := range dp.Attributes.ToSlice() {
					key += " " + string(kv.Key) + "=" + kv.Value.AsString()
				}
				got[key] += dp.Count
			}
		}
	}
	want := map[string]uint64{}
	for _, side := range []string{"rpc.client.call.duration", "rpc.server.call.duration"} {
		want[side+" rpc.method=Svc.A rpc.response.status_code=OK rpc.system.name=ferry"] = 2
		want[side+" error.type=INVALID_ARGUMENT rpc.method=Svc.A rpc.response.status_code=INVALID_ARGUMENT rpc.system.name=ferry"] = 2
		want[side+" error.type=INTERNAL rpc.method=Svc.A rpc.response.status_code=INTERNAL rpc.system.name=ferry"] = 1
		want[side+" rpc.method=Svc.B rpc.response.status_code=OK rpc.system.name=ferry"] = 2
		want[side+" error.type=INTERNAL rpc.method=Svc.B rpc.response.status_code=INTERNAL rpc.system.name=ferry"] = 1
	}
	assert.Equal(t, want, got)
}
