// Package otel traces and measures Ferry calls with OpenTelemetry, through
// interceptors. It is its own Go module (github.com/ferryrpc/ferry/otel),
// so that Ferry itself does not depend on OpenTelemetry. Import it under
// another name to keep go.opentelemetry.io/otel's:
//
//	import ferryotel "github.com/ferryrpc/ferry/otel"
//
//	s := server.New(
//		server.WithInterceptors(ferryotel.ServerInterceptor()),       // calls it serves
//		server.WithClientInterceptors(ferryotel.ClientInterceptor()), // calls it makes to clients (Peer)
//		server.WithStreamInterceptors(ferryotel.StreamServerInterceptor()),       // streams it serves
//		server.WithStreamClientInterceptors(ferryotel.StreamClientInterceptor()), // streams it opens to clients
//	)
//	c, err := client.Dial(ctx, addr,
//		client.WithInterceptors(ferryotel.ClientInterceptor()),       // calls it makes
//		client.WithServerInterceptors(ferryotel.ServerInterceptor()), // calls the server makes to it
//		client.WithStreamInterceptors(ferryotel.StreamClientInterceptor()),       // streams it opens
//		client.WithStreamServerInterceptors(ferryotel.StreamServerInterceptor()), // streams the server opens to it
//	)
//
// The interceptors follow OpenTelemetry's RPC semantic conventions v1.40.0
// (the RPC attributes and metrics are the same up to v1.43.0, the newest
// that go.opentelemetry.io/otel v1.47.0 ships; since v1.39.0 they have
// rpc.system.name instead of rpc.system, and a fully qualified rpc.method
// instead of rpc.service plus rpc.method):
//
//   - one span per call, named after the method ("Arith.Add"), of kind
//     client on the calling side and server on the serving side, with
//     rpc.system.name = "ferry", rpc.method = "Arith.Add",
//     rpc.response.status_code = "OK" or the Ferry code in upper case
//     ("INVALID_ARGUMENT", as gRPC spells its codes), error.type on
//     failure, and on the server network.peer.address and
//     network.peer.port. Client spans are errors for every failure; server
//     spans only for the codes that mean the server failed (unknown,
//     deadline_exceeded, unimplemented, internal, unavailable, data_loss).
//     On the serving side the code is the handler's outcome: a reply
//     that then fails to encode, or is past the caller's message limit,
//     reaches the caller as internal or resource_exhausted, and its span
//     and duration say OK (ferry.ServerInterceptor).
//   - the histograms rpc.client.call.duration and rpc.server.call.duration
//     in seconds, with rpc.system.name, rpc.method,
//     rpc.response.status_code and error.type, and the bucket boundaries
//     the conventions advise (DurationBuckets, 5 ms to 10 s).
//
// Streaming calls get the same span and duration histogram, the span
// lasting from the open to the stream's end (the handler's return on the
// serving side; Recv's io.EOF or error, or Close, on the calling side),
// plus what the RPC conventions do not define, under Ferry's own names:
// the span attributes ferry.stream.kind, ferry.stream.messages.sent and
// .received, ferry.stream.bytes.sent and .received (bytes on the wire,
// frames included), and the histograms ferry.rpc.server.stream.messages,
// ferry.rpc.client.stream.messages, ferry.rpc.server.stream.size and
// ferry.rpc.client.stream.size, one measurement per stream and direction
// (ferry.stream.direction = "sent" or "received"). Bytes are counted only
// when the interceptor sees Ferry's own stream (ferry.WireCounter):
// install the stream interceptors first on the serving side and last on
// the calling side.
//
// Trace context travels in the call's Ferry metadata (MetadataCarrier),
// in both directions: a server handler that calls its client back through
// a Peer continues the same trace. The propagator defaults to the global
// one, which propagates nothing until the program sets one:
//
//	otel.SetTextMapPropagator(propagation.TraceContext{})
//
// or pass WithPropagators. Metadata only crosses the wire between Ferry
// peers: a plain MessagePack-RPC peer starts a new trace.
//
// # Metrics: a MeterProvider, or Metrics
//
// By default the interceptors record through the global MeterProvider
// (or WithMeterProvider's): one SDK Record per measurement. For calls
// that take microseconds that Record is a large part of the cost (see
// Cost), so the package offers a cheaper way with the same histograms:
// a Metrics aggregates the measurements itself, with a few atomic
// additions each, and an SDK reader collects it as a Producer:
//
//	m := ferryotel.NewMetrics()
//	reader := sdkmetric.NewPeriodicReader(exporter, sdkmetric.WithProducer(m))
//	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
//	opts := []ferryotel.Option{ferryotel.WithMetrics(m)}
//	s := server.New(server.WithInterceptors(ferryotel.ServerInterceptor(opts...)))
//
// What a Metrics does not do: views, exemplars, delta temporality (its
// histograms are cumulative) and the attribute filters a MeterProvider
// applies; its series are kept for its lifetime, at most MaxSeries per
// histogram.
//
// Inside a trace that is not sampled (the caller's trace context says so,
// or the context a call is made or a stream opened with holds an
// unsampled span), no interceptor, unary or stream, starts a span: the
// caller's decision holds, as with the SDK's default ParentBased samplers,
// whatever sampler the provider has, and the context is passed on
// unchanged so that calls further down follow it too. Durations are
// measured either way (unless the MeterProvider is a no-op one: a call
// that nothing records reads no clock for it).
//
// # Sampling in the interceptors
//
// By default a call outside any trace asks the tracer for a span and the
// provider's sampler decides; when it says no, the trace still gets IDs,
// and its context travels in the metadata so that the decision holds
// downstream. That costs every call a span start and a traceparent, the
// bulk of tracing's cost on a call of a few microseconds (see Cost).
// WithHeadSampling moves the decision into the interceptors, before
// any span exists:
//
//	edge := []ferryotel.Option{ferryotel.WithHeadSampling(0.01)} // 1 % of new traces
//	inner := []ferryotel.Option{ferryotel.WithHeadSampling(0)}   // continue the callers' traces, start none
//	c, err := client.Dial(ctx, addr, client.WithInterceptors(ferryotel.ClientInterceptor(edge...)))
//	s := server.New(server.WithInterceptors(ferryotel.ServerInterceptor(inner...)))
//
// A call or stream outside any trace starts one with the given
// probability; the others get no span, no IDs and no trace context on the
// wire. Inside a trace the trace's decision holds, as without the option.
// A served call that was not sampled gives its handler a context that
// says so, and calls made with it through interceptors with the option
// start no trace either. A "no" does not cross the wire: a server with a
// ratio above zero samples the calls that reach it outside a trace on its
// own. The provider's sampler still sees the traces the interceptors
// sample: keep the SDK's default, ParentBased(AlwaysSample()).
//
// # Cost
//
// Per call, the calling side looks up the method's attributes (built once
// per method), asks the tracer for a span unless the trace is known not
// to be sampled (for a call outside any trace this is the sampler's
// decision: with the SDK, a span that records nothing when it says no),
// adds the trace context and baggage to the call's metadata when the
// context holds any (ferry.AppendOutgoingMetadata: no map is built or
// copied; nothing when tracing is off and the context holds no span),
// reads the monotonic clock twice, and records one duration with an
// attribute set built once per method and code: an SDK Record, or with
// WithMetrics an atomic addition to the sum and to one bucket. The serving side, when tracing
// is on, reads the trace context from the metadata as it arrived, key by
// key (ferry.IncomingMetadataValue: no map is decoded for it), and asks
// its tracer for a span unless that trace is not sampled; it reads the
// clock once (the time the message arrived is noted by the reader once
// per read, which brings several calls under load) and records one
// duration. Span attributes beyond those given at the start are set
// only on spans that record. With 1 % sampling, the other 99 % of calls
// cost the sampling decision and the propagation of their trace context
// (so that the decision holds downstream), and no span. With
// propagation.TraceContext itself as the propagator (directly, not inside
// a composite), the interceptors write and read its two fields as it
// does, without a carrier: in BenchmarkInterceptors a call traced at 1 %
// made 12 allocations, both sides, against 3 without interceptors.
//
// Measured with BenchmarkOverhead (a trivial call over TCP loopback, 16
// concurrent callers, the interceptors on both sides, against no
// interceptors in the same run, alternating; the process's CPU time per
// call, and where said the wall time, 5 runs on a quiet 2-core VM,
// 2026-12-06 17:21 UTC, medians in brackets): interceptors that only
// call next cost 1.04–1.08 times the CPU time of no interceptors;
// metrics through a Metrics 1.13–1.17 (1.147; wall 1.13–1.15, 1.140);
// tracing at 1 % decided by the SDK's sampler 1.66–1.73 (1.70); tracing
// at 1 % decided by the interceptors (WithHeadSampling(0.01) calling,
// WithHeadSampling(0) serving: the head-1% variant) 1.18–1.23 (1.21), of
// which a call not sampled costs 1.11–1.21 (head-0, 5 runs at 14:55 UTC)
// and the 1 % that are sampled, recorded and exported the rest; head-1%
// with metrics 1.19–1.28 (1.25). As a yardstick (3 runs at 14:26 UTC), a
// calling-side interceptor that does nothing but keep the processor busy
// for 300 ns costs 1.14–1.19: with calls of about 5 µs of CPU, fixed work
// per call costs this closed loop two to three times its own time.
// Tracing at 1 % decided by the sampler is above the sum of two parts
// measured alone, which only WithHeadSampling avoids: the tracer's start
// of a span for each new trace (the SDK's sampler, new IDs, a span that
// records nothing and its context; the start-1% variant, 14:26 UTC:
// 1.33–1.34) and the trace context carried on every call (the metadata
// variant, a constant 55-byte entry sent and read, no tracing at all:
// 1.19–1.26);
// the rest is formatting and parsing the traceparent and the remote span
// context the handler's context carries.
//
// Not covered: unary message sizes (a unary interceptor sees decoded
// values, not the bytes; the v1.40.0 conventions no longer define size
// metrics either).
package otel
