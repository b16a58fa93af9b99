package otel

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/server"
	global "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// Attributes of stream spans and measurements that the RPC conventions do
// not define.
const (
	StreamKindKey        = attribute.Key("ferry.stream.kind")              // "bidi", "server" or "client"
	StreamDirectionKey   = attribute.Key("ferry.stream.direction")         // "sent" or "received", on the stream metrics
	MessagesSentKey      = attribute.Key("ferry.stream.messages.sent")     // on stream spans
	MessagesReceivedKey  = attribute.Key("ferry.stream.messages.received") // on stream spans
	BytesSentKey         = attribute.Key("ferry.stream.bytes.sent")        // on stream spans, frames included
	BytesReceivedKey     = attribute.Key("ferry.stream.bytes.received")    // on stream spans, frames included
	streamDirectionSent  = "sent"
	streamDirectionRecvd = "received"
)

// streamInstruments are what one stream interceptor records with.
type streamInstruments struct {
	*instruments
	msgs  metric.Int64Histogram // messages per stream, by direction
	bytes metric.Int64Histogram // bytes per stream, by direction
	// ownMsgs and ownBytes are the same in the Metrics of WithMetrics,
	// which replace msgs and bytes.
	ownMsgs, ownBytes *histogram
}

func newStreamInstruments(opts []Option, serverSide bool) *streamInstruments {
	side := "client"
	if serverSide {
		side = "server"
	}
	in := &streamInstruments{instruments: newInstruments(opts, serverSide)}
	var c config
	for _, o := range opts {
		o(&c)
	}
	c.defaults()
	const (
		msgsDesc = "Messages per streaming call, by direction"
		sizeDesc = "Bytes per streaming call on the wire, frames included, by direction"
	)
	msgsName, sizeName := "ferry.rpc."+side+".stream.messages", "ferry.rpc."+side+".stream.size"
	if c.metrics != nil {
		in.ownMsgs = c.metrics.histogram(msgsName, msgsDesc, "{message}", countBuckets, false)
		in.ownBytes = c.metrics.histogram(sizeName, sizeDesc, "By", countBuckets, false)
		return in
	}
	// The same scope as the call duration's: name and schema URL.
	meter := c.mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL))
	var err error
	if in.msgs, err = meter.Int64Histogram(msgsName, metric.WithUnit("{message}"), metric.WithDescription(msgsDesc)); err != nil {
		global.Handle(err)
	}
	if in.bytes, err = meter.Int64Histogram(sizeName, metric.WithUnit("By"), metric.WithDescription(sizeDesc)); err != nil {
		global.Handle(err)
	}
	return in
}

// recordCount records one stream measurement (messages or bytes) of v,
// into own when set, else into the SDK instrument sdk.
func recordCount(ctx context.Context, own *histogram, sdk metric.Int64Histogram, ca *codeAttrs, v int64) {
	if own != nil {
		own.get(ca.set).record(own, v)
		return
	}
	if sdk != nil && sdk.Enabled(ctx) {
		sdk.Record(ctx, v, ca.opts...)
	}
}

// tally counts a stream's messages, and its bytes when the stream it
// wraps counts them (ferry.WireCounter).
type tally struct {
	sent, received atomic.Int64
	wire           ferry.WireCounter
}

// end records the stream's span attributes and measurements.
func (in *streamInstruments) end(ctx context.Context, span trace.Span, ma *methodAttrs, info *ferry.StreamInfo, t *tally, t0 time.Duration, err error) {
	d := now() - t0
	code := ferry.CodeOf(err)
	var bs, br int64
	if t.wire != nil {
		bs, br = t.wire.WireBytes()
	}
	if span.IsRecording() {
		span.SetAttributes(statusKVs(code)...)
		span.SetAttributes(StreamKindKey.String(info.Kind.String()),
			MessagesSentKey.Int64(t.sent.Load()), MessagesReceivedKey.Int64(t.received.Load()))
		if t.wire != nil {
			span.SetAttributes(BytesSentKey.Int64(bs), BytesReceivedKey.Int64(br))
		}
	}
	if in.measuring(ctx) {
		in.record(ctx, ma, code, d)
	}
	sent, recvd := ma.streamRecord(code, info.Kind, streamDirectionSent), ma.streamRecord(code, info.Kind, streamDirectionRecvd)
	recordCount(ctx, in.ownMsgs, in.msgs, sent, t.sent.Load())
	recordCount(ctx, in.ownMsgs, in.msgs, recvd, t.received.Load())
	if t.wire != nil {
		recordCount(ctx, in.ownBytes, in.bytes, sent, bs)
		recordCount(ctx, in.ownBytes, in.bytes, recvd, br)
	}
}

// StreamServerInterceptor returns a stream interceptor for the streams a
// side serves: install it with server.WithStreamInterceptors, or
// client.WithStreamServerInterceptors for the streams a server opens to
// its client. Each stream gets a span of kind server, a child of the trace
// context in the stream's metadata, lasting until the handler returns,
// with the stream's kind, messages and bytes each way; and measurements:
// rpc.server.call.duration, and ferry.rpc.server.stream.messages and
// ferry.rpc.server.stream.size by direction. Install it first, so that the
// stream it sees is Ferry's own, which counts bytes.
func StreamServerInterceptor(opts ...Option) ferry.StreamServerInterceptor {
	in := newStreamInstruments(opts, true)
	return func(ctx context.Context, info *ferry.StreamInfo, st ferry.ServerStream, next ferry.StreamHandler) (any, error) {
		ma := in.attrs.method(info.Method)
		span := noSpan
		if in.trace {
			ctx = in.extract(ctx)
			// As for unary calls: no span inside a trace the caller did
			// not sample.
			var start bool
			if ctx, start, _ = in.sample(ctx); start {
				ctx, span = in.tracer.Start(ctx, info.Method, ma.serverStart...)
			}
		}
		t := &tally{}
		t.wire, _ = st.(ferry.WireCounter)
		t0 := now()
		res, err := next(ctx, &serverStream{ServerStream: st, ctx: ctx, t: t})
		if span.IsRecording() {
			if p := server.PeerFromContext(ctx); p != nil {
				span.SetAttributes(peerAttrs(p.RemoteAddr())...)
			}
			if err != nil && serverFault(ferry.CodeOf(err)) {
				span.SetStatus(codes.Error, err.Error())
			}
		}
		in.end(ctx, span, ma, info, t, t0, err)
		span.End()
		return res, err
	}
}

// serverStream counts a served stream's messages.
type serverStream struct {
	ferry.ServerStream
	ctx context.Context
	t   *tally
}

func (s *serverStream) Context() context.Context { return s.ctx }

func (s *serverStream) Send(m any) error {
	err := s.ServerStream.Send(m)
	if err == nil {
		s.t.sent.Add(1)
	}
	return err
}

func (s *serverStream) Recv(m any) error {
	err := s.ServerStream.Recv(m)
	if err == nil {
		s.t.received.Add(1)
	}
	return err
}

// StreamClientInterceptor returns a stream interceptor for the streams a
// side opens: install it with client.WithStreamInterceptors, or
// server.WithStreamClientInterceptors for the streams a server opens to
// its clients through a Peer. Each stream gets a span of kind client,
// whose context travels in the stream's metadata, from the open until the
// stream ends (Recv's io.EOF or error, or Close), with the stream's kind,
// messages and bytes each way; and measurements: rpc.client.call.duration,
// and ferry.rpc.client.stream.messages and ferry.rpc.client.stream.size by
// direction. Install it last, so that the stream it sees is Ferry's own,
// which counts bytes.
func StreamClientInterceptor(opts ...Option) ferry.StreamClientInterceptor {
	in := newStreamInstruments(opts, false)
	return func(ctx context.Context, info *ferry.StreamInfo, next ferry.Streamer) (ferry.ClientStream, error) {
		ma := in.attrs.method(info.Method)
		span := noSpan
		if in.trace {
			if sctx, start, _ := in.sample(ctx); start {
				ctx, span = in.tracer.Start(sctx, info.Method, ma.clientStart...)
			}
		}
		ctx = in.inject(ctx)
		t0 := now()
		cs, err := next(ctx, info)
		t := &tally{}
		if err != nil {
			if span.IsRecording() {
				span.SetStatus(codes.Error, err.Error())
			}
			in.end(ctx, span, ma, info, t, t0, err)
			span.End()
			return nil, err
		}
		t.wire, _ = cs.(ferry.WireCounter)
		return &clientStream{ClientStream: cs, in: in, ctx: ctx, span: span, ma: ma, info: info, t: t, t0: t0}, nil
	}
}

// clientStream counts an opened stream's messages and ends its span once.
type clientStream struct {
	ferry.ClientStream
	in    *streamInstruments
	ctx   context.Context
	span  trace.Span
	ma    *methodAttrs
	info  *ferry.StreamInfo
	t     *tally
	t0    time.Duration
	ended atomic.Bool
}

func (s *clientStream) Send(m any) error {
	err := s.ClientStream.Send(m)
	if err == nil {
		s.t.sent.Add(1)
	}
	return err
}

func (s *clientStream) Recv(m any) error {
	err := s.ClientStream.Recv(m)
	switch {
	case err == nil:
		s.t.received.Add(1)
	case err == io.EOF:
		s.finish(nil)
	default:
		if !errors.Is(err, ferry.ErrDropped) { // a message that did not decode leaves the stream usable
			s.finish(err)
		}
	}
	return err
}

func (s *clientStream) Close() error {
	err := s.ClientStream.Close()
	s.finish(ferry.NewError(ferry.CodeCanceled, "the stream was closed before it ended"))
	return err
}

// finish ends the span and records, once.
func (s *clientStream) finish(err error) {
	if !s.ended.CompareAndSwap(false, true) {
		return
	}
	if err != nil && s.span.IsRecording() {
		s.span.SetStatus(codes.Error, err.Error())
	}
	s.in.end(s.ctx, s.span, s.ma, s.info, s.t, s.t0, err)
	s.span.End()
}
