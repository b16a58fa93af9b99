package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/internal/engine"
	"github.com/ferryrpc/ferry/internal/status"
	"github.com/ferryrpc/ferry/internal/stream"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/ferryrpc/ferry/transport"
)

// StreamKind says which way messages flow in a streaming method. It is a
// declaration, reported by Methods and introspection: at run time every
// streaming call is the same bidirectional stream, and the kind changes
// nothing for an untyped StreamHandler, which may Send and Recv as it
// likes. The typed helpers shape the handler to the kind:
// HandleServerStream reads exactly one request (a stream that ends
// without one gets CodeInvalidArgument; messages after the first are
// never read), HandleClientStream sends nothing but its result.
type StreamKind int

// The streaming kinds.
const (
	Bidi         StreamKind = iota + 1 // both sides send any number of messages
	ServerStream                       // one request (the caller's Send, then CloseSend), many responses
	ClientStream                       // many requests, one response (the handler's result)
)

// String returns "bidi", "server" or "client".
func (k StreamKind) String() string {
	switch k {
	case Bidi:
		return "bidi"
	case ServerStream:
		return "server"
	case ClientStream:
		return "client"
	}
	return fmt.Sprintf("StreamKind(%d)", int(k))
}

// StreamHandler serves one streaming call. Its returned value is sent to
// the caller as the stream's result, and its error as the stream's status,
// encoded as for a unary call (code, message, details). A ServerStream
// handler reads its single request with st.Recv: the caller sends it as
// the stream's first message (client.Stream.Send, then CloseSend; the
// opening request's params are always empty). If ctx's deadline passes
// before the handler returns, the caller gets CodeDeadlineExceeded
// whatever it returns.
type StreamHandler func(ctx context.Context, st *Stream) (result any, err error)

type streamMethod struct {
	kind        StreamKind
	fn          StreamHandler
	args, reply reflect.Type
}

// Stream is the server's end of a streaming call. Send and Recv may be
// used from two goroutines at once, but neither from two.
type Stream struct {
	c      *stream.Conn
	ctx    context.Context
	cancel context.CancelFunc
	eof    bool
	rerr   *ferry.Error // a failure that broke the receiving side (a limit, a protocol error)
}

// Context returns the call's context: it ends with context.Canceled when
// the caller cancels or the connection ends, and with
// context.DeadlineExceeded when the caller's deadline passes.
func (s *Stream) Context() context.Context { return s.ctx }

// Send sends one message. It blocks while the caller's flow-control window
// is full (the caller is not reading), until ctx ends. A message over
// MaxMessageSize is not sent: CodeResourceExhausted.
func (s *Stream) Send(v any) error {
	if err := s.c.Send(v); err != nil {
		return s.wrap(err)
	}
	return nil
}

// Recv receives the next message into v. It returns io.EOF once the caller
// has closed its sending side, CodeCanceled or CodeDeadlineExceeded once
// ctx ended, and CodeResourceExhausted for a message over the server's
// MaxMessageSize; after that failure nothing more can be received, and
// the caller gets it as the call's status even if the handler returns nil.
func (s *Stream) Recv(v any) error {
	if s.eof {
		return io.EOF
	}
	if s.rerr != nil {
		return s.rerr
	}
	err := s.c.Recv(v)
	if errors.Is(err, stream.ErrEnd) {
		s.eof = true
		return io.EOF
	}
	if err != nil {
		fe := s.wrap(err)
		if _, local := err.(*ferry.Error); !local && s.ctx.Err() == nil {
			s.rerr = fe
		}
		return fe
	}
	return nil
}

func (s *Stream) wrap(err error) *ferry.Error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		s.cancel() // the caller closed the stream without finishing: it gave up
	}
	if ctxErr := s.ctx.Err(); ctxErr != nil {
		return status.Context(ctxErr)
	}
	return status.Received(err)
}

// HandleStream registers an untyped streaming method.
func (s *Server) HandleStream(name string, kind StreamKind, fn StreamHandler) error {
	return s.handleStream(name, streamMethod{kind: kind, fn: fn})
}

func (s *Server) handleStream(name string, sm streamMethod) error {
	if name == "" || name[0] == '$' {
		return fmt.Errorf("ferry: invalid stream method name %q", name)
	}
	s.smu.Lock()
	defer s.smu.Unlock()
	if _, dup := s.streams[name]; dup {
		return fmt.Errorf("ferry: stream method %q is already registered", name)
	}
	s.streams[name] = sm
	return nil
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
	return s.handleStream(name, streamMethod{kind: Bidi, args: reflect.TypeFor[Req](), reply: reflect.TypeFor[Resp](),
		fn: func(ctx context.Context, st *Stream) (any, error) {
			return nil, fn(ctx, &BidiStream[Req, Resp]{st: st})
		}})
}

// HandleServerStream registers a typed method that takes one request and
// sends any number of responses with send.
func HandleServerStream[Req, Resp any](s *Server, name string, fn func(ctx context.Context, req *Req, send func(*Resp) error) error) error {
	return s.handleStream(name, streamMethod{kind: ServerStream, args: reflect.TypeFor[Req](), reply: reflect.TypeFor[Resp](), fn: func(ctx context.Context, st *Stream) (any, error) {
		req := new(Req)
		if err := st.Recv(req); err != nil {
			if err == io.EOF {
				return nil, ferry.NewError(ferry.CodeInvalidArgument, "the stream carried no request")
			}
			return nil, err
		}
		return nil, fn(ctx, req, func(m *Resp) error { return st.Send(m) })
	}})
}

// HandleClientStream registers a typed method that receives any number of
// requests with recv (io.EOF after the last) and returns one response.
func HandleClientStream[Req, Resp any](s *Server, name string, fn func(ctx context.Context, recv func() (*Req, error)) (*Resp, error)) error {
	return s.handleStream(name, streamMethod{kind: ClientStream, args: reflect.TypeFor[Req](), reply: reflect.TypeFor[Resp](), fn: func(ctx context.Context, st *Stream) (any, error) {
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
	}})
}

// serveStream runs one streaming call on st, whose marker byte was read.
func (c *conn) serveStream(st net.Conn) {
	cfg := c.s.opts.cfg
	sc := stream.New(st, engine.Limits(cfg))
	sc.Bound(c.budget, cfg.PartialMessageTimeout)
	defer sc.Close()
	_ = st.SetReadDeadline(time.Now().Add(cfg.SniffTimeout))
	method, ext, err := sc.ReadOpen()
	_ = st.SetReadDeadline(time.Time{})
	if err != nil {
		return
	}
	c.s.smu.RLock()
	sm, ok := c.s.streams[method]
	c.s.smu.RUnlock()
	switch {
	case !c.isAuthenticated():
		_ = sc.SendStatus(nil, ferry.MarkNotExecuted(ferry.NewError(ferry.CodeUnauthenticated, "the connection is not authenticated")))
		return
	case !ok:
		_ = sc.SendStatus(nil, ferry.MarkNotExecuted(ferry.Errorf(ferry.CodeUnimplemented, "unknown stream method %q", method)))
		return
	case !c.beginStream(st):
		_ = sc.SendStatus(nil, ferry.MarkNotExecuted(ferry.NewError(ferry.CodeUnavailable, "the server is shutting down")))
		return
	case !c.limiter.Acquire():
		c.streamHandlers.Done()
		_ = sc.SendStatus(nil, ferry.MarkNotExecuted(ferry.NewError(ferry.CodeResourceExhausted, "too many calls running on this connection")))
		return
	}
	defer c.streamHandlers.Done()
	defer c.limiter.Release()

	ctx := c.streamContext()
	if ext.Metadata != nil {
		ctx = ferry.NewIncomingContext(ctx, ext.Metadata)
	}
	var cancel context.CancelFunc
	if ext.Timeout != 0 {
		ctx, cancel = context.WithTimeout(ctx, time.Duration(max(ext.Timeout, 0)))
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	id := transport.StreamID(st)
	c.trackStream(id, cancel)
	defer c.trackStream(id, nil)
	// A canceled call unblocks the handler's Send and Recv at once.
	unblocked := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(unblocked)
		now := time.Now()
		_ = st.SetReadDeadline(now)
		_ = st.SetWriteDeadline(now)
	})
	sst := &Stream{c: sc, ctx: ctx, cancel: cancel}
	result, herr := runStream(ctx, sm.fn, sst, c.s.opts)
	if !stop() {
		<-unblocked // it set the deadlines: let it finish first
	}
	switch err := ctx.Err(); {
	case err == context.DeadlineExceeded:
		// The caller waits for the server to enforce its deadline: say so.
		// Its reading side may have stopped mid-frame, so read no more.
		_ = st.SetWriteDeadline(time.Time{})
		_ = sc.SendStatus(nil, status.Context(err))
		return
	case err != nil:
		return // the caller gave up or the connection is closing: nobody to tell
	}
	if herr == nil && sst.rerr != nil {
		herr = sst.rerr // a message the handler never got: the caller must know
	}
	if err := sc.SendStatus(result, herr); err != nil || sst.rerr != nil {
		return
	}
	// Let a caller that is still sending finish without blocking, within
	// the close timeout.
	_ = st.SetReadDeadline(time.Now().Add(cfg.StreamCloseTimeout))
	for {
		if err := sc.Recv(nil); err != nil && !errors.Is(err, stream.ErrEnd) {
			return
		}
	}
}

func runStream(ctx context.Context, fn StreamHandler, st *Stream, o options) (result any, err error) {
	defer func() {
		if p := recover(); p != nil {
			o.logger.Error("ferry: stream handler panicked", "panic", p)
			result, err = nil, ferry.NewError(ferry.CodeInternal, "the stream handler panicked")
		}
	}()
	return fn(ctx, st)
}

// control serves the reserved methods of the connection's call streams:
// the client's hello (authentication) and the out-of-band cancel of a
// streaming call.
func (c *conn) control(method string, params []byte) (any, error) {
	switch method {
	case wire.MethodHello:
		var hello []struct {
			Token string `msgpack:"token"`
		}
		_ = codec.Unmarshal(params, &hello)
		if c.s.opts.auth == nil {
			return map[string]any{}, nil
		}
		token := ""
		if len(hello) > 0 {
			token = hello[0].Token
		}
		return c.authenticate(token)
	case wire.MethodCancelStream:
		var ids []uint32
		if codec.Unmarshal(params, &ids) != nil || len(ids) != 1 {
			return nil, nil
		}
		c.mu.Lock()
		cancel := c.streamCancels[ids[0]]
		c.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		return nil, nil
	}
	return nil, ferry.MarkNotExecuted(ferry.Errorf(ferry.CodeUnimplemented, "unknown method %q", method))
}

func (c *conn) trackStream(id uint32, cancel context.CancelFunc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cancel == nil {
		delete(c.streamCancels, id)
	} else {
		c.streamCancels[id] = cancel
	}
}
