package client

import (
	"context"
	"io"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/status"
	"github.com/ferryrpc/ferry/internal/stream"
)

// Stream is the caller's end of a streaming call, carried on a stream of
// its own so that it never blocks other calls and its memory is bounded by
// the flow-control window. Send and Recv may be used from two goroutines
// at once, but neither from two. Read until Recv returns io.EOF or an
// error that ends the call, or Close the stream, to release it (a message
// that does not decode into Recv's v ends nothing: see Recv). With stream
// interceptors (WithStreamInterceptors), its methods go through the
// stream they returned.
//
// Errors follow the unary calls' contract (the same code means the same
// thing): when ctx's deadline passes, Send and Recv return
// CodeDeadlineExceeded and the handler's context reports
// context.DeadlineExceeded; when ctx is canceled, CodeCanceled (a Send
// after that sends nothing, and a Recv returns no message that had
// arrived before); a call the
// server refused before running its handler (a limit, a shutdown, a
// stream interceptor) carries ferry.NotExecuted; a message over either
// side's MaxMessageSize is CodeResourceExhausted (Send refuses one over
// the server's, which the server told in the hello, as one over the
// client's own, and the stream goes on); a connection lost
// mid-call is CodeUnavailable, outcome unknown; the Client's Close,
// CodeCanceled wrapping ferry.ErrClosed, as for a unary call in flight.
//
// The stream's kind (ferry.StreamKind) is the server's declaration of
// who sends what, reported by introspection; nothing on the wire enforces
// it. An untyped caller of a ServerStream method sends its single request
// with Send, then CloseSend, then reads with Recv, which is what
// OpenServerStream does; of a ClientStream method, it sends with Send,
// then CloseSend, then reads until io.EOF and takes the response from
// Result, which is what ClientStreamWriter.CloseAndRecv does.
type Stream struct {
	cs ferry.ClientStream
}

// NewStream opens a streaming call to method. Cancelling ctx cancels the
// call on both sides; its deadline bounds the server's handler. Stream
// interceptors see it as ferry.BidiStreaming, the shape that carries every
// kind.
func (c *Client) NewStream(ctx context.Context, method string) (*Stream, error) {
	return c.newStream(ctx, method, ferry.BidiStreaming)
}

func (c *Client) newStream(ctx context.Context, method string, kind ferry.StreamKind) (*Stream, error) {
	if c.sess == nil {
		return nil, ferry.MarkNotExecuted(ferry.NewError(ferry.CodeUnimplemented, "streaming calls need a Ferry session, not plain MessagePack-RPC"))
	}
	if err := c.Err(); err != nil {
		// The session may take a moment longer to notice: open nothing.
		return nil, ferry.MarkNotExecuted(status.NotSent(err)) // as a unary call gets it
	}
	cs, err := stream.Open(ctx, c.sic, &ferry.StreamInfo{Method: method, Kind: kind}, c.dialer.Open)
	if err != nil {
		return nil, err
	}
	return &Stream{cs: cs}, nil
}

// Context returns the stream's context.
func (s *Stream) Context() context.Context { return s.cs.Context() }

// Send sends one message. It blocks while the server's window is full,
// for at most the connection's WriteTimeout (transport.Config; a write
// may be cut after 7/8 of it, as that doc says): a write that waits that
// long fails with CodeUnavailable ("stream write timed out") and ends the
// call. The server grants window in steps of half its
// StreamWindow (512 KiB by default), so once the window is full a
// handler that reads less than that per WriteTimeout, however steadily,
// ends the call so too.
// After CloseSend it sends nothing and returns a *ferry.Error with
// CodeFailedPrecondition, as it does once the handler has finished
// successfully; once a failure ended the stream (the handler's error
// status included), that failure.
func (s *Stream) Send(v any) error { return s.cs.Send(v) }

// CloseSend tells the server no more messages will come. Calling it again
// does nothing. Once the stream's context has ended, or a failure ended
// the stream, it sends nothing and returns that error, as Send does; once
// the call has finished, it sends nothing and returns the call's error
// status, or nil if it succeeded.
func (s *Stream) CloseSend() error { return s.cs.CloseSend() }

// Recv receives the next message into v. It returns io.EOF when the
// handler finished successfully (its result is then available from
// Result), and the handler's error as a *ferry.Error when it failed. A
// message that does not decode into v is dropped with CodeInternal, not
// flagged ferry.NotExecuted, as a unary reply that does not fit fails its
// call (PROTOCOL.md 2.1), and the call goes on: the next Recv reads the
// next message (that error, unlike any other, wraps ferry.ErrDropped).
func (s *Stream) Recv(v any) error { return s.cs.Recv(v) }

// Result decodes the handler's returned value into v once Recv has
// returned io.EOF; before that it returns a *ferry.Error with
// CodeFailedPrecondition. A result that does not fit v is CodeInternal, as
// for Recv.
func (s *Stream) Result(v any) error { return s.cs.Result(v) }

// Close releases the stream, cancelling the call if it has not finished:
// Send and Recv, those in flight included, then return CodeCanceled
// wrapping ferry.ErrClosed (the context's error if it ended first).
func (s *Stream) Close() error { return s.cs.Close() }

// openStream opens a stream through o: a Client, or a server.Peer.
func openStream(ctx context.Context, o ferry.StreamOpener, method string, kind ferry.StreamKind) (*Stream, error) {
	if c, ok := o.(*Client); ok {
		return c.newStream(ctx, method, kind)
	}
	cs, err := o.OpenStream(ctx, method, kind)
	if err != nil {
		return nil, err
	}
	return &Stream{cs: cs}, nil
}

// BidiStream is a typed bidirectional streaming call.
type BidiStream[Req, Resp any] struct{ s *Stream }

// OpenBidi opens a typed bidirectional streaming call through c: a
// *Client to its server, or a *server.Peer to the handlers its client
// registered (HandleBidi).
func OpenBidi[Req, Resp any](ctx context.Context, c ferry.StreamOpener, method string) (*BidiStream[Req, Resp], error) {
	s, err := openStream(ctx, c, method, ferry.BidiStreaming)
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

// OpenServerStream sends req to a server-streaming method through c (a
// *Client or a *server.Peer).
func OpenServerStream[Req, Resp any](ctx context.Context, c ferry.StreamOpener, method string, req *Req) (*ServerStreamReader[Resp], error) {
	s, err := openStream(ctx, c, method, ferry.ServerStreaming)
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

// OpenClientStream opens a client-streaming call through c (a *Client or
// a *server.Peer).
func OpenClientStream[Req, Resp any](ctx context.Context, c ferry.StreamOpener, method string) (*ClientStreamWriter[Req, Resp], error) {
	s, err := openStream(ctx, c, method, ferry.ClientStreaming)
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
