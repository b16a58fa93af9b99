package otel_test

// Tests of what the package doc and the exported doc comments promise that
// the other tests do not cover.

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	ferryotel "github.com/ferryrpc/ferry/otel"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	global "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	"go.opentelemetry.io/otel/trace/noop"
)

// serverFaults are the codes the package doc says make a server span an
// error: "unknown, deadline_exceeded, unimplemented, internal,
// unavailable, data_loss".
var serverFaults = map[ferry.Code]bool{
	ferry.CodeUnknown: true, ferry.CodeDeadlineExceeded: true, ferry.CodeUnimplemented: true,
	ferry.CodeInternal: true, ferry.CodeUnavailable: true, ferry.CodeDataLoss: true,
}

// TestDocsSpanStatusPerCode checks, for every code, "rpc.response.status_code
// = "OK" or the Ferry code in upper case ..., error.type on failure ...
// Client spans are errors for every failure; server spans only for the
// codes that mean the server failed", with the span named after the
// method, of kind client or server.
func TestDocsSpanStatusPerCode(t *testing.T) {
	tel := newTelemetry(t)
	sic := ferryotel.ServerInterceptor(tel.opts...)
	cic := ferryotel.ClientInterceptor(tel.opts...)
	codesSeen := 0
	for c := ferry.Code(0); c == 0 || c.Valid(); c++ {
		var err error
		if c != 0 {
			err = ferry.NewError(c, "asked to fail")
		}
		info := &ferry.CallInfo{Method: "Svc.Fail"}
		_, gotErr := sic(t.Context(), info, nil, func(context.Context, any) (any, error) { return nil, err })
		require.Equal(t, err, gotErr)
		gotErr = cic(t.Context(), info, nil, nil, func(context.Context, *ferry.CallInfo, any, any) error { return err })
		require.Equal(t, err, gotErr)

		spans := tel.spans.Ended()
		require.Len(t, spans, 2*(codesSeen+1))
		want := "OK"
		if c != 0 {
			want = map[ferry.Code]string{
				ferry.CodeCanceled: "CANCELED", ferry.CodeUnknown: "UNKNOWN", ferry.CodeInvalidArgument: "INVALID_ARGUMENT",
				ferry.CodeDeadlineExceeded: "DEADLINE_EXCEEDED", ferry.CodeNotFound: "NOT_FOUND", ferry.CodeAlreadyExists: "ALREADY_EXISTS",
				ferry.CodePermissionDenied: "PERMISSION_DENIED", ferry.CodeResourceExhausted: "RESOURCE_EXHAUSTED",
				ferry.CodeFailedPrecondition: "FAILED_PRECONDITION", ferry.CodeAborted: "ABORTED", ferry.CodeOutOfRange: "OUT_OF_RANGE",
				ferry.CodeUnimplemented: "UNIMPLEMENTED", ferry.CodeInternal: "INTERNAL", ferry.CodeUnavailable: "UNAVAILABLE",
				ferry.CodeDataLoss: "DATA_LOSS", ferry.CodeUnauthenticated: "UNAUTHENTICATED",
			}[c]
			require.NotEmpty(t, want, "a code the test does not know: %v", c)
		}
		for _, s := range spans[2*codesSeen:] {
			assert.Equal(t, "Svc.Fail", s.Name())
			a := attrs(s.Attributes())
			assert.Equal(t, "ferry", a["rpc.system.name"])
			assert.Equal(t, "Svc.Fail", a["rpc.method"])
			assert.Equal(t, want, a["rpc.response.status_code"], "%v", c)
			if c == 0 {
				assert.NotContains(t, a, "error.type")
				assert.Equal(t, codes.Unset, s.Status().Code)
				continue
			}
			assert.Equal(t, want, a["error.type"], "%v", c)
			isError := s.SpanKind().String() == "client" || serverFaults[c]
			assert.Equal(t, isError, s.Status().Code == codes.Error, "%s span, %v", s.SpanKind(), c)
		}
		codesSeen++
	}
	assert.Equal(t, 17, codesSeen, "OK and the 16 codes")
}

// invokerMetadata returns a ClientInterceptor's outgoing metadata for one
// call made with ctx.
func invokerMetadata(t *testing.T, cic ferry.ClientInterceptor, ctx context.Context) ferry.Metadata {
	t.Helper()
	var md ferry.Metadata
	err := cic(ctx, &ferry.CallInfo{Method: "Svc.Add"}, nil, nil, func(ctx context.Context, _ *ferry.CallInfo, _, _ any) error {
		md = ferry.OutgoingMetadata(ctx)
		return nil
	})
	require.NoError(t, err)
	return md
}

// TestDocsPropagation checks what travels in metadata: "adds the trace
// context and baggage to the call's metadata when the context holds any
// (...; nothing when tracing is off and the context holds no span)", with
// the keys the propagator gives (MetadataCarrier), and metadata the
// caller set kept.
func TestDocsPropagation(t *testing.T) {
	props := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	off := ferryotel.ClientInterceptor(ferryotel.WithTracerProvider(noop.NewTracerProvider()),
		ferryotel.WithMeterProvider(metricnoop.NewMeterProvider()), ferryotel.WithPropagators(props))
	assert.Empty(t, invokerMetadata(t, off, t.Context()), "tracing off, no span: nothing")

	member, err := baggage.NewMember("user", "ada")
	require.NoError(t, err)
	bag, err := baggage.New(member)
	require.NoError(t, err)
	ctx := baggage.ContextWithBaggage(t.Context(), bag)
	ctx = ferry.NewOutgoingContext(ctx, ferry.Metadata{"mine": "kept"})
	md := invokerMetadata(t, off, ctx)
	assert.Equal(t, "user=ada", md["baggage"], "baggage travels without a span")
	assert.Equal(t, "kept", md["mine"])
	assert.NotContains(t, md, "traceparent")

	tel := newTelemetry(t)
	on := ferryotel.ClientInterceptor(append(tel.opts, ferryotel.WithPropagators(props))...)
	md = invokerMetadata(t, on, ctx)
	spans := tel.spans.Ended()
	require.Len(t, spans, 1)
	assert.Equal(t, "00-"+spans[0].SpanContext().TraceID().String()+"-"+spans[0].SpanContext().SpanID().String()+"-01", md["traceparent"],
		"the client span's context travels")
	assert.Equal(t, "user=ada", md["baggage"])
	assert.Equal(t, "kept", md["mine"])
}

// TestDocsGlobalPropagator checks "The propagator defaults to the global
// one, which propagates nothing until the program sets one". It sets the
// global propagator for the rest of the test binary (OpenTelemetry has no
// way back); the other tests pass WithPropagators or need none.
func TestDocsGlobalPropagator(t *testing.T) {
	tel := newTelemetry(t)
	opts := []ferryotel.Option{tel.opts[0], tel.opts[1]} // the providers, not the propagator
	ctx, root := sdktrace.NewTracerProvider().Tracer("test").Start(t.Context(), "root")
	defer root.End()
	if _, isTC := global.GetTextMapPropagator().(propagation.TraceContext); !isTC {
		assert.Empty(t, invokerMetadata(t, ferryotel.ClientInterceptor(opts...), ctx), "no global propagator yet: nothing")
	}
	made := ferryotel.ClientInterceptor(opts...) // before the program sets one
	global.SetTextMapPropagator(propagation.TraceContext{})
	assert.Contains(t, invokerMetadata(t, made, ctx), "traceparent")
	assert.Contains(t, invokerMetadata(t, ferryotel.ClientInterceptor(opts...), ctx), "traceparent")
}

// TestDocsWithMetricsReplacesMeterProvider checks WithMetrics: "the
// interceptors then record into it and not into a MeterProvider", and
// Metrics: "One Metrics may serve any number of interceptors and readers".
func TestDocsWithMetricsReplacesMeterProvider(t *testing.T) {
	sdkReader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkReader))
	m := ferryotel.NewMetrics()
	r1, r2 := sdkmetric.NewManualReader(sdkmetric.WithProducer(m)), sdkmetric.NewManualReader(sdkmetric.WithProducer(m))
	mp1, mp2 := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r1)), sdkmetric.NewMeterProvider(sdkmetric.WithReader(r2))
	defer func() {
		for _, p := range []*sdkmetric.MeterProvider{mp, mp1, mp2} {
			_ = p.Shutdown(context.Background())
		}
	}()
	opts := []ferryotel.Option{ferryotel.WithMeterProvider(mp), ferryotel.WithMetrics(m), ferryotel.WithTracerProvider(noop.NewTracerProvider())}
	info := &ferry.CallInfo{Method: "Svc.Add"}
	for _, sic := range []ferry.ServerInterceptor{ferryotel.ServerInterceptor(opts...), ferryotel.ServerInterceptor(opts...)} {
		_, err := sic(t.Context(), info, nil, func(context.Context, any) (any, error) { return nil, nil })
		require.NoError(t, err)
	}
	var rm metricdata.ResourceMetrics
	require.NoError(t, sdkReader.Collect(t.Context(), &rm))
	assert.Empty(t, rm.ScopeMetrics, "nothing recorded through the MeterProvider")
	for _, r := range []*sdkmetric.ManualReader{r1, r2} {
		require.NoError(t, r.Collect(t.Context(), &rm))
		require.Len(t, rm.ScopeMetrics, 1)
		require.Len(t, rm.ScopeMetrics[0].Metrics, 1)
		dps := rm.ScopeMetrics[0].Metrics[0].Data.(metricdata.Histogram[float64]).DataPoints
		require.Len(t, dps, 1)
		assert.Equal(t, uint64(2), dps[0].Count, "both interceptors' calls, seen by each reader")
	}
}

// TestDocsDurationBuckets checks "the bucket boundaries the conventions
// advise (DurationBuckets, 5 ms to 10 s)".
func TestDocsDurationBuckets(t *testing.T) {
	b := ferryotel.DurationBuckets
	require.NotEmpty(t, b)
	assert.Equal(t, 0.005, b[0])
	assert.Equal(t, 10.0, b[len(b)-1])
	assert.IsIncreasing(t, b)
}

// failingMeter fails to make any instrument.
type failingMeter struct{ metricnoop.Meter }

var errNoInstrument = errors.New("no instrument for you")

func (failingMeter) Float64Histogram(string, ...metric.Float64HistogramOption) (metric.Float64Histogram, error) {
	return nil, errNoInstrument
}

func (failingMeter) Int64Histogram(string, ...metric.Int64HistogramOption) (metric.Int64Histogram, error) {
	return nil, errNoInstrument
}

type failingMeterProvider struct{ metricnoop.MeterProvider }

func (failingMeterProvider) Meter(string, ...metric.MeterOption) metric.Meter { return failingMeter{} }

// errorSink collects what otel.Handle receives while it is on.
type errorSink struct {
	mu   sync.Mutex
	on   bool
	errs []error
}

func (s *errorSink) Handle(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.on {
		s.errs = append(s.errs, err)
	}
}

func (s *errorSink) stop() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.on = false
	return s.errs
}

// TestDocsInstrumentErrorsGoToHandle checks ServerInterceptor's "Errors
// instrument creation meets go to otel.Handle", for every interceptor,
// and that the interceptors then still pass calls and streams through.
// It sets the global error handler for the rest of the test binary; the
// sink records only during this test.
func TestDocsInstrumentErrorsGoToHandle(t *testing.T) {
	sink := &errorSink{on: true}
	global.SetErrorHandler(sink)
	opts := []ferryotel.Option{ferryotel.WithMeterProvider(failingMeterProvider{}), ferryotel.WithTracerProvider(noop.NewTracerProvider())}
	sic, cic := ferryotel.ServerInterceptor(opts...), ferryotel.ClientInterceptor(opts...)
	ssic, scic := ferryotel.StreamServerInterceptor(opts...), ferryotel.StreamClientInterceptor(opts...)
	errs := sink.stop()
	// Unary: one duration histogram each; streams: a duration, a message
	// and a size histogram each.
	assert.Len(t, errs, 2+2*3)
	for _, err := range errs {
		assert.ErrorIs(t, err, errNoInstrument)
	}

	s := server.New(server.WithInterceptors(sic), server.WithStreamInterceptors(ssic))
	require.NoError(t, server.Handle(s, "Svc.Add", func(ctx context.Context, a *Args) (*int64, error) {
		r := a.A + a.B
		return &r, nil
	}))
	require.NoError(t, s.HandleStream("Echo.Chat", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		return echoStream(ctx, st)
	}))
	c := dialPipe(t, s, client.WithInterceptors(cic), client.WithStreamInterceptors(scic))
	var r int64
	require.NoError(t, c.Call(t.Context(), "Svc.Add", Args{A: 1, B: 2}, &r))
	assert.Equal(t, int64(3), r)
	require.NoError(t, chat(t, t.Context(), c, "a", "b"))
}

// TestDocsClientStreamSpanEnds checks StreamClientInterceptor's span
// lasting "from the open until the stream ends (Recv's io.EOF or error,
// or Close)": a stream closed before its end gets a span that ended, an
// error, with the code canceled; one read to io.EOF, a span with OK.
func TestDocsClientStreamSpanEnds(t *testing.T) {
	tel := newTelemetry(t)
	s := server.New()
	require.NoError(t, s.HandleStream("Echo.Chat", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		return echoStream(ctx, st)
	}))
	c := dialPipe(t, s, client.WithStreamInterceptors(ferryotel.StreamClientInterceptor(tel.opts...)))

	st, err := client.OpenBidi[string, string](t.Context(), c, "Echo.Chat")
	require.NoError(t, err)
	m := "a"
	require.NoError(t, st.Send(&m))
	_, err = st.Recv()
	require.NoError(t, err)
	assert.Empty(t, tel.spans.Ended(), "the stream has not ended")
	require.NoError(t, st.Close())
	spans := tel.spans.Ended()
	require.Len(t, spans, 1, "Close ends the span")
	a := attrs(spans[0].Attributes())
	assert.Equal(t, "CANCELED", a["rpc.response.status_code"])
	assert.Equal(t, codes.Error, spans[0].Status().Code)
	assert.Equal(t, "1", a["ferry.stream.messages.sent"])
	assert.Equal(t, "1", a["ferry.stream.messages.received"])

	st, err = client.OpenBidi[string, string](t.Context(), c, "Echo.Chat")
	require.NoError(t, err)
	require.NoError(t, st.CloseSend())
	_, err = st.Recv()
	require.ErrorIs(t, err, io.EOF)
	spans = tel.spans.Ended()
	require.Len(t, spans, 2, "io.EOF ends the span")
	assert.Equal(t, "OK", attrs(spans[1].Attributes())["rpc.response.status_code"])
	require.NoError(t, st.Close())
	assert.Len(t, tel.spans.Ended(), 2, "once")
}

// TestDocsStreamBytesNeedFerrysStream checks "Bytes are counted only when
// the interceptor sees Ferry's own stream (ferry.WireCounter): install the
// stream interceptors first on the serving side": behind another
// interceptor that wraps the stream, the span has messages but no bytes.
func TestDocsStreamBytesNeedFerrysStream(t *testing.T) {
	tel := newTelemetry(t)
	wrap := func(ctx context.Context, info *ferry.StreamInfo, st ferry.ServerStream, next ferry.StreamHandler) (any, error) {
		return next(ctx, struct{ ferry.ServerStream }{st})
	}
	for _, order := range []string{"first", "second"} {
		sics := []ferry.StreamServerInterceptor{ferryotel.StreamServerInterceptor(tel.opts...), wrap}
		if order == "second" {
			sics[0], sics[1] = sics[1], sics[0]
		}
		s := server.New(server.WithStreamInterceptors(sics...))
		require.NoError(t, s.HandleStream("Echo.Chat", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
			return echoStream(ctx, st)
		}))
		c := dialPipe(t, s)
		require.NoError(t, chat(t, t.Context(), c, "a"))
		c.Close()
		s.Close()
	}
	spans := tel.spans.Ended()
	require.Len(t, spans, 2)
	first, second := attrs(spans[0].Attributes()), attrs(spans[1].Attributes())
	assert.Equal(t, "1", first["ferry.stream.messages.received"])
	assert.Contains(t, first, "ferry.stream.bytes.received", "installed first: bytes counted")
	assert.Equal(t, "1", second["ferry.stream.messages.received"])
	assert.NotContains(t, second, "ferry.stream.bytes.received", "behind a wrapper: no bytes")
}

// TestDocsStreamMetricUnits checks the stream histograms' names and units
// as a Metrics and a MeterProvider produce them: messages in {message},
// sizes in By, durations in s.
func TestDocsStreamMetricUnits(t *testing.T) {
	for _, mode := range metricModes {
		t.Run(mode, func(t *testing.T) {
			tel := newTelemetryMode(t, mode)
			c, _ := streamPair(t, tel)
			require.NoError(t, chat(t, t.Context(), c, "a"))
			var rm metricdata.ResourceMetrics
			require.NoError(t, tel.reader.Collect(t.Context(), &rm))
			units := map[string]string{}
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					units[m.Name] = m.Unit
				}
			}
			assert.Equal(t, map[string]string{
				"rpc.client.call.duration": "s", "rpc.server.call.duration": "s",
				"ferry.rpc.client.stream.messages": "{message}", "ferry.rpc.server.stream.messages": "{message}",
				"ferry.rpc.client.stream.size": "By", "ferry.rpc.server.stream.size": "By",
			}, units)
		})
	}
}

// dialPipe serves s over a pipe to a client made with opts; both end at
// cleanup.
func dialPipe(t *testing.T, s *server.Server, opts ...client.Option) *client.Client {
	t.Helper()
	cc, sc := net.Pipe()
	done := make(chan struct{})
	go func() { defer close(done); _ = s.ServeConn(sc) }()
	c, err := client.New(cc, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close(); s.Close(); <-done })
	return c
}

// spyProvider's spans count the attributes and statuses set on them; they
// record or not as recording says.
type spyProvider struct {
	embedded.TracerProvider
	recording bool
	sets      *atomic.Int32
}

func (p spyProvider) Tracer(string, ...trace.TracerOption) trace.Tracer {
	return spyTracer{recording: p.recording, sets: p.sets}
}

type spyTracer struct {
	embedded.Tracer
	recording bool
	sets      *atomic.Int32
}

func (t spyTracer) Start(ctx context.Context, _ string, _ ...trace.SpanStartOption) (context.Context, trace.Span) {
	s := spySpan{recording: t.recording, sets: t.sets}
	return trace.ContextWithSpan(ctx, s), s
}

type spySpan struct {
	noop.Span
	recording bool
	sets      *atomic.Int32
}

func (s spySpan) IsRecording() bool                   { return s.recording }
func (s spySpan) SetAttributes(...attribute.KeyValue) { s.sets.Add(1) }
func (s spySpan) SetStatus(codes.Code, string)        { s.sets.Add(1) }

// TestDocsAttributesOnlyOnRecordingSpans checks Cost's "Span attributes
// beyond those given at the start are set only on spans that record", on
// both sides, for calls and streams, failed or not.
func TestDocsAttributesOnlyOnRecordingSpans(t *testing.T) {
	for _, recording := range []bool{false, true} {
		sets := new(atomic.Int32)
		opts := []ferryotel.Option{ferryotel.WithTracerProvider(spyProvider{recording: recording, sets: sets}),
			ferryotel.WithMeterProvider(metricnoop.NewMeterProvider()), ferryotel.WithPropagators(propagation.TraceContext{})}
		s := server.New(server.WithInterceptors(ferryotel.ServerInterceptor(opts...)),
			server.WithStreamInterceptors(ferryotel.StreamServerInterceptor(opts...)))
		require.NoError(t, server.Handle(s, "Svc.Div", func(ctx context.Context, a *Args) (*int64, error) {
			if a.B == 0 {
				return nil, ferry.NewError(ferry.CodeInternal, "boom")
			}
			r := a.A / a.B
			return &r, nil
		}))
		require.NoError(t, s.HandleStream("Echo.Chat", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
			return echoStream(ctx, st)
		}))
		c := dialPipe(t, s, client.WithInterceptors(ferryotel.ClientInterceptor(opts...)),
			client.WithStreamInterceptors(ferryotel.StreamClientInterceptor(opts...)))
		var r int64
		require.NoError(t, c.Call(t.Context(), "Svc.Div", Args{A: 4, B: 2}, &r))
		require.Error(t, c.Call(t.Context(), "Svc.Div", Args{A: 4}, &r))
		require.NoError(t, chat(t, t.Context(), c, "a"))
		require.Error(t, chat(t, t.Context(), c, "fail"))
		c.Close()
		if recording {
			assert.Positive(t, sets.Load(), "recording spans get their attributes")
		} else {
			assert.Zero(t, sets.Load(), "spans that do not record get nothing set")
		}
	}
}

// This holds the package doc's and Metrics' code, so that a renamed
// option breaks the build of the tests. It is compiled, not run.
var _ = func(ctx context.Context, addr string, exporter sdkmetric.Exporter) error {
	s := server.New(
		server.WithInterceptors(ferryotel.ServerInterceptor()),                   // calls it serves
		server.WithClientInterceptors(ferryotel.ClientInterceptor()),             // calls it makes to clients (Peer)
		server.WithStreamInterceptors(ferryotel.StreamServerInterceptor()),       // streams it serves
		server.WithStreamClientInterceptors(ferryotel.StreamClientInterceptor()), // streams it opens to clients
	)
	c, err := client.Dial(ctx, addr,
		client.WithInterceptors(ferryotel.ClientInterceptor()),                   // calls it makes
		client.WithServerInterceptors(ferryotel.ServerInterceptor()),             // calls the server makes to it
		client.WithStreamInterceptors(ferryotel.StreamClientInterceptor()),       // streams it opens
		client.WithStreamServerInterceptors(ferryotel.StreamServerInterceptor()), // streams the server opens to it
	)
	global.SetTextMapPropagator(propagation.TraceContext{})

	m := ferryotel.NewMetrics()
	reader := sdkmetric.NewPeriodicReader(exporter, sdkmetric.WithProducer(m))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	opts := []ferryotel.Option{ferryotel.WithMetrics(m)}
	s2 := server.New(server.WithInterceptors(ferryotel.ServerInterceptor(opts...)))
	s3 := server.New(server.WithInterceptors(ferryotel.ServerInterceptor(ferryotel.WithMetrics(m))))
	_, _, _, _, _ = s, c, mp, s2, s3
	return err
}

// TestDocsPlainPeerStartsANewTrace checks "Metadata only crosses the wire
// between Ferry peers: a plain MessagePack-RPC peer starts a new trace":
// a call made inside a trace over plain MessagePack-RPC gets a server
// span with no parent, while the same call over a session continues the
// caller's trace.
func TestDocsPlainPeerStartsANewTrace(t *testing.T) {
	tel := newTelemetry(t)
	s := server.New(server.WithInterceptors(ferryotel.ServerInterceptor(tel.opts...)))
	require.NoError(t, server.Handle(s, "Svc.Add", func(ctx context.Context, a *Args) (*int64, error) {
		r := a.A + a.B
		return &r, nil
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	defer func() { s.Close(); <-served }()

	ctx, root := sdktrace.NewTracerProvider().Tracer("test").Start(t.Context(), "root")
	defer root.End()
	for _, plain := range []bool{true, false} {
		opts := []client.Option{client.WithInterceptors(ferryotel.ClientInterceptor(tel.opts...))}
		if plain {
			opts = append(opts, client.WithPlainMsgpackRPC())
		}
		c, err := client.Dial(t.Context(), l.Addr().String(), opts...)
		require.NoError(t, err)
		var r int64
		require.NoError(t, c.Call(ctx, "Svc.Add", Args{A: 1, B: 2}, &r))
		c.Close()
	}
	var servers []sdktrace.ReadOnlySpan
	for _, sp := range tel.spans.Ended() {
		if sp.SpanKind().String() == "server" {
			servers = append(servers, sp)
		}
	}
	require.Len(t, servers, 2)
	assert.False(t, servers[0].Parent().IsValid(), "plain MessagePack-RPC: a new trace")
	assert.NotEqual(t, root.SpanContext().TraceID(), servers[0].SpanContext().TraceID())
	assert.True(t, servers[1].Parent().IsRemote(), "a session: the caller's trace continues")
	assert.Equal(t, root.SpanContext().TraceID(), servers[1].SpanContext().TraceID())
}
