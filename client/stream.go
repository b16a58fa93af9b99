package client

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/engine"
	"github.com/ferryrpc/ferry/internal/stream"
	"github.com/ferryrpc/ferry/transport"
	"github.com/hashicorp/yamux"
)

// Stream is the caller's end of a streaming call, carried on a stream of
// its own so that it never blocks other calls and its memory is bounded by
// the flow-control window. Send and Recv may be used from two goroutines
// at once, but neither from two. Read until Recv returns io.EOF (or an
// error), or Close the stream, to release it.
type Stream struct {
	c    *stream.Conn
	cl   *Client
	ctx  context.Context
	id   uint32
	stop func() bool
	once sync.Once
}

// NewStream opens a streaming call to method. Cancelling ctx cancels the
// call on both sides; its deadline bounds the server's handler.
func (c *Client) NewStream(ctx context.Context, method string) (*Stream, error) {
	if c.sess == nil {
		return nil, ferry.MarkNotExecuted(ferry.NewError(ferry.CodeUnimplemented, "streaming calls need a Ferry session, not plain MessagePack-RPC"))
	}
	if err := ctx.Err(); err != nil {
		return nil, ferry.MarkNotExecuted(engine.CtxError(err).(*ferry.Error))
	}
	ext, err := engine.RequestExt(ctx)
	if err != nil {
		return nil, ferry.MarkNotExecuted(err.(*ferry.Error))
	}
	st, err := c.sess.Open(ctx)
	if err != nil {
		return nil, ferry.MarkNotExecuted(ferry.Errorf(ferry.CodeUnavailable, "open stream: %v", err))
	}
	sc := stream.New(&refusable{Conn: st}, c.limits)
	if err := sc.WriteOpen(method, ext); err != nil {
		st.Close()
		return nil, ferry.MarkNotExecuted(ferry.Errorf(ferry.CodeUnavailable, "open stream: %v", err))
	}
	s := &Stream{c: sc, cl: c, ctx: ctx, id: transport.StreamID(st)}
	s.stop = context.AfterFunc(ctx, s.abort)
	return s, nil
}

// abort runs when ctx ends: it tells the server (on the call stream, which
// no stalled data can hold up) and unblocks Send and Recv.
func (s *Stream) abort() {
	_ = s.cl.eng.SendControl("$ferry.cancelstream", s.id)
	now := time.Now()
	_ = s.c.Raw().SetReadDeadline(now)
	_ = s.c.Raw().SetWriteDeadline(now)
}

// Context returns the stream's context.
func (s *Stream) Context() context.Context { return s.ctx }

// Send sends one message. It blocks while the server's window is full.
func (s *Stream) Send(v any) error {
	if err := s.c.Send(v, 0); err != nil {
		return s.wrap(err)
	}
	return nil
}

// CloseSend tells the server no more messages will come.
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
		if s.ctx.Err() != nil {
			// Abandoned: closing may wait for a stalled connection.
			s.cl.bg.Add(1)
			go func() {
				defer s.cl.bg.Done()
				s.c.Close()
			}()
			return
		}
		s.c.Close()
	})
}

func (s *Stream) wrap(err error) error {
	if ctxErr := s.ctx.Err(); ctxErr != nil {
		s.release()
		return engine.CtxError(ctxErr)
	}
	var fe *ferry.Error
	if errors.As(err, &fe) {
		return err
	}
	s.release()
	return ferry.Errorf(ferry.CodeUnavailable, "stream broken (%v): the call may or may not have completed", err)
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
