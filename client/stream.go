package client

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/status"
	"github.com/ferryrpc/ferry/internal/stream"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/ferryrpc/ferry/transport"
	"github.com/hashicorp/yamux"
)

// Stream is the caller's end of a streaming call, carried on a stream of
// its own so that it never blocks other calls and its memory is bounded by
// the flow-control window. Send and Recv may be used from two goroutines
// at once, but neither from two. Read until Recv returns io.EOF (or an
// error), or Close the stream, to release it.
//
// Errors follow the unary calls' contract (the same code means the same
// thing): when ctx's deadline passes, Send and Recv return
// CodeDeadlineExceeded and the handler's context reports
// context.DeadlineExceeded; when ctx is canceled, CodeCanceled; a call the
// server refused before running its handler (a limit, a shutdown) carries
// ferry.NotExecuted; a message over either side's MaxMessageSize is
// CodeResourceExhausted; a connection lost mid-call is CodeUnavailable,
// outcome unknown.
//
// The stream's kind (server.StreamKind) is the server's declaration of
// who sends what, reported by introspection; nothing on the wire enforces
// it. An untyped caller of a ServerStream method sends its single request
// with Send, then CloseSend, then reads with Recv, which is what
// OpenServerStream does; of a ClientStream method, it sends with Send,
// then CloseSend, then reads until io.EOF and takes the response from
// Result, which is what ClientStreamWriter.CloseAndRecv does.
type Stream struct {
	c    *stream.Conn
	cl   *Client
	ctx  context.Context
	id   uint32
	stop func() bool
	once sync.Once

	mu  sync.Mutex
	err error // the failure that ended the stream; later calls return it
}

// NewStream opens a streaming call to method. Cancelling ctx cancels the
// call on both sides; its deadline bounds the server's handler.
func (c *Client) NewStream(ctx context.Context, method string) (*Stream, error) {
	if c.sess == nil {
		return nil, ferry.MarkNotExecuted(ferry.NewError(ferry.CodeUnimplemented, "streaming calls need a Ferry session, not plain MessagePack-RPC"))
	}
	if err := ctx.Err(); err != nil {
		return nil, ferry.MarkNotExecuted(status.Context(err))
	}
	ext, ferr := status.RequestExt(ctx)
	if ferr != nil {
		return nil, ferr
	}
	st, err := c.sess.Open(ctx)
	if err != nil {
		return nil, openError(ctx, err)
	}
	sc := stream.New(&refusable{Conn: st}, c.limits)
	if err := sc.WriteOpen(method, ext); err != nil {
		st.Close()
		return nil, openError(ctx, err)
	}
	s := &Stream{c: sc, cl: c, ctx: ctx, id: transport.StreamID(st)}
	s.stop = context.AfterFunc(ctx, s.abort)
	return s, nil
}

// openError is a failure to open a stream: never executed, and, when ctx
// ended meanwhile, reported as ctx's error as a unary call would be.
func openError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ferry.MarkNotExecuted(status.Context(ctxErr))
	}
	return ferry.MarkNotExecuted(ferry.Errorf(ferry.CodeUnavailable, "open stream: %v", err))
}

// abort runs when ctx ends: it tells the server (on the call stream, which
// no stalled data can hold up) and unblocks Send and Recv. A deadline is
// not sent as a cancel: the server enforces it itself, as for a unary
// call, so that its handler sees context.DeadlineExceeded.
func (s *Stream) abort() {
	if s.ctxErr() != context.DeadlineExceeded {
		_ = s.cl.eng.SendControl(wire.MethodCancelStream, s.id)
	}
	now := time.Now()
	_ = s.c.Raw().SetReadDeadline(now)
	_ = s.c.Raw().SetWriteDeadline(now)
}

// Context returns the stream's context.
func (s *Stream) Context() context.Context { return s.ctx }

// Send sends one message. It blocks while the server's window is full.
// After CloseSend it sends nothing and returns a *ferry.Error with
// CodeFailedPrecondition, as it does once the handler has finished
// successfully; once a failure ended the stream (the handler's error
// status included), that failure.
func (s *Stream) Send(v any) error {
	if err := s.failed(); err != nil {
		return err
	}
	if s.c.Final() {
		if err := s.c.Result(nil); err != nil {
			return err // the call failed: its status
		}
		return ferry.NewError(ferry.CodeFailedPrecondition, "Send after the call finished: the message was not sent")
	}
	if err := s.c.Send(v); err != nil {
		return s.wrap(err)
	}
	return nil
}

// CloseSend tells the server no more messages will come. Calling it again
// does nothing.
func (s *Stream) CloseSend() error {
	if err := s.c.CloseSend(); err != nil {
		return s.wrap(err)
	}
	return nil
}

// Recv receives the next message into v. It returns io.EOF when the
// handler finished successfully (its result is then available from
// Result), and the handler's error as a *ferry.Error when it failed.
func (s *Stream) Recv(v any) error {
	if err := s.failed(); err != nil {
		return err
	}
	err := s.c.Recv(v)
	switch {
	case err == nil:
		return nil
	case err == io.EOF:
		s.release()
		return io.EOF
	case s.c.Final():
		s.release()
		return err
	}
	return s.wrap(err)
}

// Result decodes the handler's returned value into v once Recv has
// returned io.EOF.
func (s *Stream) Result(v any) error { return s.c.Result(v) }

// Close releases the stream, cancelling the call if it has not finished.
func (s *Stream) Close() error {
	if !s.c.Final() {
		s.abort()
	}
	s.release()
	return nil
}

func (s *Stream) release() {
	s.once.Do(func() {
		s.stop()
		expired := s.ctxErr() == context.DeadlineExceeded
		if s.c.Final() || s.ctx.Err() == nil && !expired {
			s.c.Close()
			return
		}
		// Abandoned: closing may wait for a stalled connection.
		s.cl.bg.Add(1)
		go func() {
			defer s.cl.bg.Done()
			if expired {
				s.linger()
			}
			s.c.Close()
		}()
	})
}

// lingerMax bounds how long an expired stream stays open for the server to
// end it.
const lingerMax = 2 * time.Second

// linger keeps an expired stream open until the server ends it (its own
// deadline, sent with the call, passes a moment after ours), discarding
// what arrives: closing first would reach the server as a cancel, and its
// handler would see context.Canceled instead of DeadlineExceeded.
func (s *Stream) linger() {
	raw := s.c.Raw()
	_ = raw.SetReadDeadline(time.Now().Add(lingerMax))
	_, _ = io.Copy(io.Discard, raw)
}

// ctxErr is the stream's context error, counting a deadline that has
// passed before ctx's timer fired.
func (s *Stream) ctxErr() error {
	if err := s.ctx.Err(); err != nil {
		return err
	}
	if dl, ok := s.ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// failed returns the error that ended the stream, if one did.
func (s *Stream) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// wrap maps a failure of Send or Recv. A *ferry.Error of the stream layer
// (a local limit, a message that does not decode, Send after CloseSend)
// leaves the stream usable; anything else ends it: the context's error if
// ctx ended, otherwise the transport failure as status maps it.
func (s *Stream) wrap(err error) error {
	if ctxErr := s.ctxErr(); ctxErr != nil {
		return s.end(status.Context(ctxErr))
	}
	if _, ok := err.(*ferry.Error); ok {
		return err
	}
	return s.end(status.Received(err))
}

// end records err as the stream's end, cancels the call on the server
// unless ctx already did, and releases the stream.
func (s *Stream) end(err *ferry.Error) error {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	if s.ctx.Err() == nil && err.Code != ferry.CodeDeadlineExceeded {
		s.abort()
	}
	s.release()
	return err
}

// BidiStream is a typed bidirectional streaming call.
type BidiStream[Req, Resp any] struct{ s *Stream }

// OpenBidi opens a typed bidirectional streaming call.
func OpenBidi[Req, Resp any](ctx context.Context, c *Client, method string) (*BidiStream[Req, Resp], error) {
	s, err := c.NewStream(ctx, method)
	if err != nil {
		return nil, err
	}
	return &BidiStream[Req, Resp]{s: s}, nil
}

// Send sends one request.
func (b *BidiStream[Req, Resp]) Send(m *Req) error { return b.s.Send(m) }

// CloseSend tells the server no more requests will come.
func (b *BidiStream[Req, Resp]) CloseSend() error { return b.s.CloseSend() }

// Recv receives the next response; io.EOF when the handler finished.
func (b *BidiStream[Req, Resp]) Recv() (*Resp, error) {
	m := new(Resp)
	if err := b.s.Recv(m); err != nil {
		return nil, err
	}
	return m, nil
}

// Close releases the stream, cancelling the call if it has not finished.
func (b *BidiStream[Req, Resp]) Close() error { return b.s.Close() }

// ServerStreamReader is a typed call that sent one request and receives
// many responses.
type ServerStreamReader[Resp any] struct{ s *Stream }

// OpenServerStream sends req to a server-streaming method.
func OpenServerStream[Req, Resp any](ctx context.Context, c *Client, method string, req *Req) (*ServerStreamReader[Resp], error) {
	s, err := c.NewStream(ctx, method)
	if err != nil {
		return nil, err
	}
	if err := s.Send(req); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.CloseSend(); err != nil {
		s.Close()
		return nil, err
	}
	return &ServerStreamReader[Resp]{s: s}, nil
}

// Recv receives the next response; io.EOF when the handler finished.
func (r *ServerStreamReader[Resp]) Recv() (*Resp, error) {
	m := new(Resp)
	if err := r.s.Recv(m); err != nil {
		return nil, err
	}
	return m, nil
}

// Close releases the stream, cancelling the call if it has not finished.
func (r *ServerStreamReader[Resp]) Close() error { return r.s.Close() }

// ClientStreamWriter is a typed call that sends many requests and
// receives one response.
type ClientStreamWriter[Req, Resp any] struct{ s *Stream }

// OpenClientStream opens a client-streaming call.
func OpenClientStream[Req, Resp any](ctx context.Context, c *Client, method string) (*ClientStreamWriter[Req, Resp], error) {
	s, err := c.NewStream(ctx, method)
	if err != nil {
		return nil, err
	}
	return &ClientStreamWriter[Req, Resp]{s: s}, nil
}

// Send sends one request.
func (w *ClientStreamWriter[Req, Resp]) Send(m *Req) error { return w.s.Send(m) }

// CloseAndRecv ends the requests and waits for the handler's response.
func (w *ClientStreamWriter[Req, Resp]) CloseAndRecv() (*Resp, error) {
	if err := w.s.CloseSend(); err != nil {
		return nil, err
	}
	for {
		err := w.s.Recv(nil)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	resp := new(Resp)
	if err := w.s.Result(resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// Close releases the stream, cancelling the call if it has not finished.
func (w *ClientStreamWriter[Req, Resp]) Close() error { return w.s.Close() }

// refusable is a streaming call's session stream. A server resets a
// stream only when it refuses it unserved (it is going away, or its accept
// backlog is full), so a reset before the first byte from the server means
// that no handler ran: reads and writes then fail with a not-executed
// error.
type refusable struct {
	net.Conn
	got atomic.Bool // a byte came from the server
}

var errStreamRefused = ferry.MarkNotExecuted(ferry.NewError(ferry.CodeUnavailable, "the server refused the stream (it is going away, or at its limit)"))

func (r *refusable) Read(b []byte) (int, error) {
	n, err := r.Conn.Read(b)
	if n > 0 {
		r.got.Store(true)
	}
	return n, r.refused(err)
}

func (r *refusable) Write(b []byte) (int, error) {
	n, err := r.Conn.Write(b)
	return n, r.refused(err)
}

func (r *refusable) refused(err error) error {
	if err == yamux.ErrConnectionReset && !r.got.Load() {
		return errStreamRefused
	}
	return err
}
