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
// (the newest that go.opentelemetry.io/otel ships; since v1.39.0 they have
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
//   - the histograms rpc.client.call.duration and rpc.server.call.duration
//     in seconds, with rpc.system.name, rpc.method,
//     rpc.response.status_code and error.type.
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
// Inside a trace that is not sampled (the caller's trace context says so,
// or the context a call is made with holds an unsampled span), neither
// unary interceptor starts a span (the stream interceptors do): the caller's decision holds, as with the
// SDK's default ParentBased samplers, whatever sampler the provider has,
// and the context is passed on unchanged so that calls further down follow
// it too. Durations are measured either way. With 1 % sampling, the other
// 99 % of calls cost the propagation of their trace context and no span.
//
// Not covered: unary message sizes (a unary interceptor sees decoded
// values, not the bytes; the v1.40.0 conventions no longer define size
// metrics either).
package otel
