package otel_test

// Audit of the package doc and go doc output: promises the other tests
// of this package do not check.

import (
	"context"
	"testing"

	ferryotel "github.com/ferryrpc/ferry/otel"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	global "go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"
)

// TestAuditSpanScopeAndNames: spans are named after the method, carry
// the instrumentation scope ScopeName, rpc.system.name = SystemName and
// rpc.method, on both sides.
func TestAuditSpanScopeAndNames(t *testing.T) {
	tel := newTelemetry(t)
	c := pair(t, tel)
	var r int64
	require.NoError(t, c.Call(t.Context(), "Svc.Add", Args{A: 1, B: 2}, &r))
	spans := tel.spans.Ended()
	require.Len(t, spans, 2)
	kinds := map[string]bool{}
	for _, s := range spans {
		kinds[s.SpanKind().String()] = true
		assert.Equal(t, "Svc.Add", s.Name())
		assert.Equal(t, ferryotel.ScopeName, s.InstrumentationScope().Name)
		a := attrs(s.Attributes())
		assert.Equal(t, ferryotel.SystemName, a["rpc.system.name"])
		assert.Equal(t, "Svc.Add", a["rpc.method"])
		assert.Equal(t, "OK", a["rpc.response.status_code"])
		assert.NotContains(t, a, "rpc.system", "v1.39.0 and later: rpc.system.name only")
		assert.NotContains(t, a, "rpc.service")
	}
	assert.Equal(t, map[string]bool{"client": true, "server": true}, kinds)
}

// TestAuditGlobalTracerProviderTiming checks WithTracerProvider's
// default, "the global provider (otel.GetTracerProvider()) at the time
// the interceptor is made": an interceptor made after the program sets
// the global provider uses it, and keeps it when the global provider is
// replaced later. (One made before the program first sets one follows
// OpenTelemetry's global delegation to that first provider: see the
// Option's doc.)
func TestAuditGlobalTracerProviderTiming(t *testing.T) {
	first := tracetest.NewSpanRecorder()
	tp1 := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(first))
	global.SetTracerProvider(tp1)
	t.Cleanup(func() {
		global.SetTracerProvider(noop.NewTracerProvider())
		_ = tp1.Shutdown(context.Background())
	})
	tel := newTelemetry(t)
	tel.opts = tel.opts[1:] // drop WithTracerProvider: the global one
	c := pair(t, tel)

	second := tracetest.NewSpanRecorder()
	tp2 := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(second))
	t.Cleanup(func() { _ = tp2.Shutdown(context.Background()) })
	global.SetTracerProvider(tp2)

	var r int64
	require.NoError(t, c.Call(t.Context(), "Svc.Add", Args{A: 1, B: 2}, &r))
	assert.Len(t, first.Ended(), 2, "the provider that was global when the interceptors were made")
	assert.Empty(t, second.Ended(), "a provider set later is not used")
}

// TestAuditNilOptionsMeanDefaults: a nil provider or propagator is the
// default, the global one, not a panic.
func TestAuditNilOptionsMeanDefaults(t *testing.T) {
	opts := []ferryotel.Option{ferryotel.WithTracerProvider(nil), ferryotel.WithMeterProvider(nil), ferryotel.WithPropagators(nil)}
	require.NotPanics(t, func() {
		_ = ferryotel.ClientInterceptor(opts...)
		_ = ferryotel.ServerInterceptor(opts...)
		_ = ferryotel.StreamClientInterceptor(opts...)
		_ = ferryotel.StreamServerInterceptor(opts...)
	})
	tel := &telemetry{opts: opts}
	c := pair(t, tel)
	var r int64
	require.NoError(t, c.Call(t.Context(), "Svc.Add", Args{A: 1, B: 2}, &r))
	assert.Equal(t, int64(3), r)
}
