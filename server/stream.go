package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"reflect"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/engine"
	"github.com/ferryrpc/ferry/internal/registry"
	"github.com/ferryrpc/ferry/internal/stream"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/ferryrpc/ferry/transport"
)

// StreamKind says which way messages flow in a streaming method
// (ferry.StreamKind). It is a declaration, reported by Methods,
// introspection and stream interceptors: at run time every streaming call
// is the same bidirectional stream, and the kind changes nothing for an
// untyped StreamHandler, which may Send and Recv as it likes. The typed
// helpers shape the handler to the kind: HandleServerStream reads exactly
// one request (a stream that ends without one gets CodeInvalidArgument;
// messages after the first are never read), HandleClientStream sends
// nothing but its result.
type StreamKind = ferry.StreamKind

// The streaming kinds.
const (
	Bidi         = ferry.BidiStreaming   // both sides send any number of messages
	ServerStream = ferry.ServerStreaming // one request (the caller's Send, then CloseSend), many responses
	ClientStream = ferry.ClientStreaming // many requests, one response (the handler's result)
)

// StreamHandler serves one streaming call. Its returned value is sent to
// the caller as the stream's result, and its error as the stream's status,
// encoded as for a unary call (code, message, details; a result past
// MaxMessageSize, the server's or the client's, is replaced by a
// CodeResourceExhausted error). A ServerStream
// handler reads its single request with st.Recv: the caller sends it as
// the stream's first message (client.Stream.Send, then CloseSend; the
// opening request's params are always empty). If ctx's deadline passes
// before the handler returns, the caller gets CodeDeadlineExceeded
// whatever it returns.
type StreamHandler func(ctx context.Context, st *Stream) (result any, err error)

// Stream is the server's end of a streaming call, as the handler sees it:
// through the stream interceptors' wrappers (WithStreamInterceptors), if
// any. Send and Recv may be used from two goroutines at once, but neither
// from two.
type Stream struct {
	st  ferry.ServerStream
	ctx context.Context
}

// Context returns the call's context: it ends with context.Canceled when
// the caller cancels or the connection ends, and with
// context.DeadlineExceeded when the caller's deadline passes.
func (s *Stream) Context() context.Context { return s.ctx }

// Send sends one message. It blocks while the caller's flow-control window
// is full (the caller is not reading), until ctx ends or for at most
// WriteTimeout (transport.Config; a write may be cut after 7/8 of it, as
// that doc says), after which it fails with CodeUnavailable ("stream write
// timed out") and the call ends (its context is canceled). The caller
// grants window in steps of half its StreamWindow (512 KiB by default), so
// a caller that reads less than that per WriteTimeout, however steadily,
// ends the call so too once the window is full. Once ctx has ended it
// sends nothing and returns CodeCanceled or CodeDeadlineExceeded. A
// message over MaxMessageSize, the server's or the client's (which a
// Ferry client tells in its hello), is not sent: CodeResourceExhausted,
// and the stream goes on.
func (s *Stream) Send(v any) error { return s.st.Send(v) }

// Recv receives the next message into v. It returns io.EOF once the caller
// has closed its sending side, CodeCanceled or CodeDeadlineExceeded once
// ctx ended (not a message that arrived before), and
// CodeResourceExhausted for a message over the server's MaxMessageSize;
// after that failure nothing more can be received, and the caller gets it
// as the call's status even if the handler returns nil. A message that
// does not decode into v is dropped with CodeInvalidArgument (wrapping
// ferry.ErrDropped), and the call goes on. A caller that
// holds part of a message past PartialMessageTimeout (transport.Config)
// has the stream closed: Recv returns CodeUnavailable, and no status is
// sent.
func (s *Stream) Recv(v any) error { return s.st.Recv(v) }

// HandleStream registers an untyped streaming method of the given kind.
// Streaming and unary methods share one method table: a name may be
// registered once, as one kind.
func (s *Server) HandleStream(name string, kind StreamKind, fn StreamHandler) error {
	if kind < Bidi || kind > ClientStream {
		return fmt.Errorf("ferry: stream method %q: invalid kind %d", name, int(kind))
	}
	if fn == nil {
		return fmt.Errorf("ferry: stream method %q: nil handler", name)
	}
	return s.reg.Add(streamMethod(name, kind, nil, nil, fn))
}

// streamMethod builds a registry entry for a streaming handler: the
// handler gets a *Stream over whatever ServerStream the interceptors pass.
func streamMethod(name string, kind StreamKind, args, reply reflect.Type, fn StreamHandler) *registry.Method {
	return registry.Streaming(name, kind, args, reply, func(ctx context.Context, st ferry.ServerStream) (any, error) {
		return fn(ctx, &Stream{st: st, ctx: ctx})
	})
}

// BidiStream is the typed server end of a bidirectional stream.
type BidiStream[Req, Resp any] struct{ st *Stream }

// Send sends one response.
func (b *BidiStream[Req, Resp]) Send(m *Resp) error { return b.st.Send(m) }

// Recv receives the next request, or io.EOF after the caller's CloseSend.
func (b *BidiStream[Req, Resp]) Recv() (*Req, error) {
	m := new(Req)
	if err := b.st.Recv(m); err != nil {
		return nil, err
	}
	return m, nil
}

// Context returns the call's context.
func (b *BidiStream[Req, Resp]) Context() context.Context { return b.st.ctx }

// HandleBidi registers a typed bidirectional streaming method.
func HandleBidi[Req, Resp any](s *Server, name string, fn func(context.Context, *BidiStream[Req, Resp]) error) error {
	if fn == nil {
		return registry.NilHandler(name)
	}
	return s.reg.Add(streamMethod(name, Bidi, reflect.TypeFor[Req](), reflect.TypeFor[Resp](),
		func(ctx context.Context, st *Stream) (any, error) {
			return nil, fn(ctx, &BidiStream[Req, Resp]{st: st})
		}))
}

// HandleServerStream registers a typed method that takes one request and
// sends any number of responses with send.
func HandleServerStream[Req, Resp any](s *Server, name string, fn func(ctx context.Context, req *Req, send func(*Resp) error) error) error {
	if fn == nil {
		return registry.NilHandler(name)
	}
	return s.reg.Add(streamMethod(name, ServerStream, reflect.TypeFor[Req](), reflect.TypeFor[Resp](), func(ctx context.Context, st *Stream) (any, error) {
		req := new(Req)
		if err := st.Recv(req); err != nil {
			if err == io.EOF {
				return nil, ferry.NewError(ferry.CodeInvalidArgument, "the stream carried no request")
			}
			return nil, err
		}
		return nil, fn(ctx, req, func(m *Resp) error { return st.Send(m) })
	}))
}

// HandleClientStream registers a typed method that receives any number of
// requests with recv (io.EOF after the last) and returns one response.
func HandleClientStream[Req, Resp any](s *Server, name string, fn func(ctx context.Context, recv func() (*Req, error)) (*Resp, error)) error {
	if fn == nil {
		return registry.NilHandler(name)
	}
	return s.reg.Add(streamMethod(name, ClientStream, reflect.TypeFor[Req](), reflect.TypeFor[Resp](), func(ctx context.Context, st *Stream) (any, error) {
		resp, err := fn(ctx, func() (*Req, error) {
			m := new(Req)
			if err := st.Recv(m); err != nil {
				return nil, err
			}
			return m, nil
		})
		if err != nil || resp == nil {
			return nil, err
		}
		return resp, nil
	}))
}

// serveStream runs one streaming call on st, whose marker byte was read;
// it calls setUp once the opening request is read.
func (c *netConn) serveStream(st net.Conn, setUp func()) {
	cfg := c.s.opts.cfg
	cnt := stream.NewCounter(st, 1) // the marker byte was read
	lim := c.limits()
	sc := stream.New(cnt, lim)
	sc.Bound(c.budget, cfg.PartialMessageTimeout)
	sc.BoundWrites(c.budget, cfg.WriteTimeout) // a peer that grants no window is cut off, and what waits for it is charged
	defer sc.Close()
	locked := !c.isAuthenticated()
	if locked { // every message before the hello is bounded, openings too (PROTOCOL.md 7)
		open := lim
		open.MaxMessage = min(open.MaxMessage, wire.UnauthMaxMessage)
		sc.SetReadLimits(open)
	}
	method, ext, err := sc.ReadOpen() // within the setup deadline (armSetup)
	c.endSetup(st)
	setUp()
	refusal := stream.OpenRefusal(method, err)
	if err != nil && refusal == nil {
		if c.setupWasCut(err) {
			_ = sc.SendStatus(nil, errDrainedSetup)
		}
		return
	}
	sm := c.s.reg.Lookup([]byte(method))
	// refuse answers a stream refused before any handler ran, and reports
	// it to WithRefused's function as the reader does a refused call.
	refuse := func(err *ferry.Error) {
		_ = sc.SendStatus(nil, err)
		if fn := c.s.opts.onRefused; fn != nil {
			name := ""
			if sm != nil {
				name = sm.Name
			}
			fn(name, err)
		}
	}
	if refusal != nil { // metadata past the bounds, or a malformed ext
		refuse(refusal)
		return
	}
	switch {
	case !c.isAuthenticated():
		refuse(ferry.MarkNotExecuted(ferry.NewError(ferry.CodeUnauthenticated, "the connection is not authenticated")))
		return
	case sm == nil:
		refuse(ferry.MarkNotExecuted(ferry.Errorf(ferry.CodeUnimplemented, "unknown stream method %q", wire.EchoName(method))))
		return
	case sm.Unary():
		refuse(ferry.Errorf(ferry.CodeUnimplemented, "%s is a unary method: call it, do not open a stream", method))
		return
	case !c.beginStream(st):
		refuse(ferry.MarkNotExecuted(ferry.NewError(ferry.CodeUnavailable, "the server is shutting down")))
		return
	case !c.limiter.Acquire():
		c.streamHandlers.Done()
		refuse(ferry.MarkNotExecuted(ferry.NewError(ferry.CodeResourceExhausted, "too many calls running on this connection")))
		return
	case !c.budget.Charge(engine.CallOverhead):
		// A handler waiting for a message holds about 19 KiB, and the
		// limiter allows 1,024 on each of many connections.
		c.limiter.Release()
		c.streamHandlers.Done()
		refuse(ferry.MarkNotExecuted(ferry.NewError(ferry.CodeResourceExhausted, "the connection's memory budget is spent: too many streaming calls running")))
		return
	}
	if locked { // authenticated while the opening was read
		sc.SetReadLimits(lim)
	}
	defer c.streamHandlers.Done()
	c.streamCalls.Add(1)
	defer c.streamCalls.Add(-1)
	c.streamInvoking.Add(1) // until the handler returns (Run's returned)
	defer c.limiter.Release()
	defer c.budget.Release(engine.CallOverhead)
	// The final status is written before a graceful shutdown, which waits
	// for streamHandlers, may close the session (Close again is a no-op).
	defer sc.Close()

	track := func(cancel context.CancelFunc) func() {
		return c.streamCancels.Track(transport.StreamID(st), cancel)
	}
	// streamInvoking drops when the handler returns, before its final
	// status is sent, not once the caller closed its side too: a caller
	// that has the status finds no handler running (handling).
	c.s.serving.Run(c.streamContext(), st, sc, cnt, sm, ext, track, func() { c.streamInvoking.Add(-1) })
}
