package otel_test

import (
	"context"
	"math"
	"net"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	ferryotel "github.com/ferryrpc/ferry/otel"
	"github.com/ferryrpc/ferry/server"
)

// headRig is a server and a client whose interceptors sample with
// WithHeadSampling, over a pipe, on SDK providers that sample every span
// they are asked about, counting each side's tracer starts.
type headRig struct {
	c      *client.Client
	plain  *client.Client // a client of the same server without interceptors
	rec    *tracetest.SpanRecorder
	cStart *atomic.Int32 // the client's tracer starts (its calls, and its server side for callbacks)
	sStart *atomic.Int32 // the server's
	// withContext counts the calls of Svc.Add and Svc.Ask that arrived
	// with a traceparent in their metadata; pings the callbacks that did.
	withContext, pings atomic.Int32
}

// newHeadRig makes a rig: the server's serving interceptors (unary and
// stream) have serveOpts, the interceptor of the calls it makes back
// through a Peer backOpts, the client's clientOpts (for its calls, its
// streams, and the callbacks it serves), each after the common options.
// Svc.Ask calls the client's Client.Ping back; Echo.Chat echoes a stream.
func newHeadRig(t *testing.T, serveOpts, backOpts, clientOpts []ferryotel.Option) *headRig {
	t.Helper()
	r := &headRig{rec: tracetest.NewSpanRecorder()}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(r.rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctp, stp := newCounting(tp), newCounting(tp)
	r.cStart, r.sStart = ctp.n, stp.n
	common := []ferryotel.Option{ferryotel.WithMeterProvider(metricnoop.NewMeterProvider()), ferryotel.WithPropagators(propagation.TraceContext{})}
	with := func(tp trace.TracerProvider, opts []ferryotel.Option) []ferryotel.Option {
		return append(append([]ferryotel.Option{ferryotel.WithTracerProvider(tp)}, common...), opts...)
	}
	sopts, bopts, copts := with(stp, serveOpts), with(stp, backOpts), with(ctp, clientOpts)
	s := server.New(
		server.WithInterceptors(ferryotel.ServerInterceptor(sopts...)),
		server.WithClientInterceptors(ferryotel.ClientInterceptor(bopts...)),
		server.WithStreamInterceptors(ferryotel.StreamServerInterceptor(sopts...)),
	)
	count := func(ctx context.Context, n *atomic.Int32) {
		if _, ok := ferry.IncomingMetadataValue(ctx, "traceparent"); ok {
			n.Add(1)
		}
	}
	require.NoError(t, server.Handle(s, "Svc.Add", func(ctx context.Context, a *Args) (*int64, error) {
		count(ctx, &r.withContext)
		sum := a.A + a.B
		return &sum, nil
	}))
	require.NoError(t, server.Handle(s, "Svc.Ask", func(ctx context.Context, q *string) (*string, error) {
		count(ctx, &r.withContext)
		var answer string
		err := server.PeerFromContext(ctx).Call(ctx, "Client.Ping", *q, &answer)
		return &answer, err
	}))
	require.NoError(t, s.HandleStream("Echo.Chat", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		return echoStream(ctx, st)
	}))
	cc, sc := net.Pipe()
	done := make(chan struct{})
	go func() { defer close(done); _ = s.ServeConn(sc) }()
	pc, psc := net.Pipe()
	pdone := make(chan struct{})
	go func() { defer close(pdone); _ = s.ServeConn(psc) }()
	c, err := client.New(cc,
		client.WithInterceptors(ferryotel.ClientInterceptor(copts...)),
		client.WithServerInterceptors(ferryotel.ServerInterceptor(copts...)),
		client.WithStreamInterceptors(ferryotel.StreamClientInterceptor(copts...)),
	)
	require.NoError(t, err)
	require.NoError(t, client.Handle(c, "Client.Ping", func(ctx context.Context, q *string) (*string, error) {
		count(ctx, &r.pings)
		answer := "pong: " + *q
		return &answer, nil
	}))
	plain, err := client.New(pc)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close(); plain.Close(); s.Close(); <-done; <-pdone })
	r.c, r.plain = c, plain
	return r
}

func head(ratio float64) []ferryotel.Option {
	return []ferryotel.Option{ferryotel.WithHeadSampling(ratio)}
}

// TestHeadSamplingRatio: with the edge sampling a quarter of new traces
// and the server none of its own, about a quarter of the calls get a
// client span, each continued by a server span in the same trace; the
// other calls ask no tracer for anything and carry no trace context.
func TestHeadSamplingRatio(t *testing.T) {
	r := newHeadRig(t, head(0), head(0), head(0.25))
	const calls = 400
	var sum int64
	for range calls {
		require.NoError(t, r.c.Call(t.Context(), "Svc.Add", Args{A: 1, B: 2}, &sum))
	}
	k := int(r.cStart.Load())
	// Binomial(400, 0.25): mean 100, standard deviation 8.7; these bounds
	// are about seven deviations away.
	assert.Greater(t, k, 40)
	assert.Less(t, k, 160)
	assert.Equal(t, int32(k), r.sStart.Load(), "the server continues exactly the sampled traces")
	assert.Equal(t, int32(k), r.withContext.Load(), "only sampled calls carry a trace context")
	spans := r.rec.Ended()
	require.Len(t, spans, 2*k)
	clients := map[trace.SpanID]trace.TraceID{}
	for _, s := range spans {
		assert.True(t, s.SpanContext().IsSampled())
		if s.SpanKind() == trace.SpanKindClient {
			clients[s.SpanContext().SpanID()] = s.SpanContext().TraceID()
		}
	}
	require.Len(t, clients, k)
	for _, s := range spans {
		if s.SpanKind() == trace.SpanKindServer {
			tid, ok := clients[s.Parent().SpanID()]
			assert.True(t, ok, "a server span's parent is a client span")
			assert.Equal(t, tid, s.SpanContext().TraceID())
		}
	}
}

// TestHeadSamplingDecisionHoldsInHandler: a served call the server did
// not sample makes its handler's calls start no trace, even through an
// interceptor that would sample every new trace; a sampled one is
// continued through the callback.
func TestHeadSamplingDecisionHoldsInHandler(t *testing.T) {
	t.Run("not sampled", func(t *testing.T) {
		// The client samples no new trace, the server none of the calls
		// that arrive outside one, and its calls back would sample every
		// new trace: the handler's context says its call was not sampled.
		r := newHeadRig(t, head(0), head(1), head(0))
		var answer string
		for range 20 {
			require.NoError(t, r.c.Call(t.Context(), "Svc.Ask", "hi", &answer))
		}
		assert.Equal(t, "pong: hi", answer)
		assert.Zero(t, r.cStart.Load()+r.sStart.Load(), "no tracer was asked for a span")
		assert.Zero(t, r.withContext.Load()+r.pings.Load(), "no trace context crossed")
		assert.Empty(t, r.rec.Ended())
	})
	t.Run("sampled at the edge", func(t *testing.T) {
		r := newHeadRig(t, head(0), head(0), head(1))
		var answer string
		for range 5 {
			require.NoError(t, r.c.Call(t.Context(), "Svc.Ask", "hi", &answer))
		}
		assert.Equal(t, int32(5), r.withContext.Load())
		assert.Equal(t, int32(5), r.pings.Load(), "the callbacks carry the trace on")
		spans := r.rec.Ended()
		require.Len(t, spans, 20, "client, server, callback client, callback server; five times")
		traces := map[trace.TraceID]int{}
		for _, s := range spans {
			traces[s.SpanContext().TraceID()]++
		}
		assert.Len(t, traces, 5)
		for _, n := range traces {
			assert.Equal(t, 4, n)
		}
	})
}

// TestHeadSamplingInsideATrace: a call made inside a sampled trace gets
// its span whatever the ratio, and one inside an unsampled trace none
// whatever the ratio, its context passed on as without the option.
func TestHeadSamplingInsideATrace(t *testing.T) {
	r := newHeadRig(t, head(0), head(0), head(0))
	ctx, root := sdktrace.NewTracerProvider().Tracer("test").Start(t.Context(), "root")
	var sum int64
	require.NoError(t, r.c.Call(ctx, "Svc.Add", Args{A: 1, B: 2}, &sum))
	root.End()
	spans := r.rec.Ended()
	require.Len(t, spans, 2)
	for _, s := range spans {
		assert.Equal(t, root.SpanContext().TraceID(), s.SpanContext().TraceID())
	}

	r = newHeadRig(t, head(1), head(1), head(1))
	never := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	ctx, root = never.Tracer("test").Start(t.Context(), "root")
	require.NoError(t, r.c.Call(ctx, "Svc.Add", Args{A: 1, B: 2}, &sum))
	root.End()
	assert.Zero(t, r.cStart.Load()+r.sStart.Load())
	assert.Equal(t, int32(1), r.withContext.Load(), "the unsampled context still travels")
	assert.Empty(t, r.rec.Ended())
}

// TestHeadSamplingServerRoots: a server with a ratio samples calls that
// arrive outside any trace (here from a client without interceptors) on
// its own: all of them at 1, none at 0, none at a ratio that is not a
// number, all above 1.
func TestHeadSamplingServerRoots(t *testing.T) {
	for _, tc := range []struct {
		ratio float64
		want  int
	}{{1, 10}, {0, 0}, {math.NaN(), 0}, {-1, 0}, {2, 10}} {
		r := newHeadRig(t, head(tc.ratio), head(0), nil)
		var sum int64
		for range 10 {
			require.NoError(t, r.plain.Call(t.Context(), "Svc.Add", Args{A: 1, B: 2}, &sum))
		}
		assert.Equal(t, int32(tc.want), r.sStart.Load(), "ratio %v", tc.ratio)
		assert.Len(t, r.rec.Ended(), tc.want)
	}
}

// TestHeadSamplingStreams: the stream interceptors decide the same way.
func TestHeadSamplingStreams(t *testing.T) {
	r := newHeadRig(t, head(0), head(0), head(0))
	require.NoError(t, chat(t, t.Context(), r.c, "a", "bb"))
	assert.Zero(t, r.cStart.Load()+r.sStart.Load())
	assert.Empty(t, r.rec.Ended())

	r = newHeadRig(t, head(0), head(0), head(1))
	require.NoError(t, chat(t, t.Context(), r.c, "a", "bb"))
	spans := r.rec.Ended()
	require.Len(t, spans, 2, "the client's span and the server's, which continues it")
	assert.Equal(t, spans[0].SpanContext().TraceID(), spans[1].SpanContext().TraceID())
}
