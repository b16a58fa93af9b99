package otel_test

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

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
