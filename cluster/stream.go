package cluster

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/status"
)

// maxReplay bounds the messages a stream keeps to send again on another
// endpoint: past it, a refusal is no longer retried.
const maxReplay = 64

// streamCounts are the Client's stream tallies (StreamStats).
type streamCounts struct {
	opened, failed, retried atomic.Int64
}

// StreamStats counts the Client's streaming calls since New.
type StreamStats struct {
	Opened  int64 // streams opened on an endpoint (each retry included)
	Failed  int64 // streams that ended with an error other than the caller's cancel
	Retried int64 // attempts moved to another endpoint after a not-executed refusal
}

// StreamStats returns the Client's stream tallies.
func (c *Client) StreamStats() StreamStats {
	return StreamStats{Opened: c.streams.opened.Load(), Failed: c.streams.failed.Load(), Retried: c.streams.retried.Load()}
}

// NewStream opens a streaming call to method on one endpoint, picked by
// the balancer as for Call (a consistent-hash key set with
// balancer.WithHashKey included). A stream refused before its handler
// started (ferry.NotExecuted: the endpoint was going away, at its limit,
// unreachable) is opened again on another endpoint, within the retry
// limits of Call, and the messages already sent are sent again there: so
// a message passed to Send must not change afterwards. Once the handler
// has shown that it started (a message or the final status came back) or
// 64 messages were sent, the stream stays on its endpoint, and a failure
// reaches the caller with the endpoint's address in its message. The
// typed openers (client.OpenBidi, client.OpenServerStream,
// client.OpenClientStream) take a Client too.
func (c *Client) NewStream(ctx context.Context, method string) (ferry.ClientStream, error) {
	return c.OpenStream(ctx, method, ferry.BidiStreaming)
}

// OpenStream is NewStream with the kind that stream interceptors see
// (ferry.StreamOpener).
func (c *Client) OpenStream(ctx context.Context, method string, kind ferry.StreamKind) (ferry.ClientStream, error) {
	if err := status.CheckContext(ctx, method); err != nil {
		return nil, err
	}
	c.budget.deposit()
	s := &stream{c: c, ctx: ctx, method: method, kind: kind}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.open(nil); err != nil {
		return nil, err
	}
	return s, nil
}

// stream is a streaming call through the cluster: the stream on its
// current endpoint, and what it takes to move it to another.
type stream struct {
	c      *Client
	ctx    context.Context
	method string
	kind   ferry.StreamKind

	sendMu    sync.Mutex // one Send or CloseSend at a time
	mu        sync.Mutex // the fields below; held during a move
	cs        ferry.ClientStream
	e         *endpoint
	conn      *client.Client
	gen       int // bumped by each move
	attempt   int
	tried     []*endpoint
	sent      []any // messages sent, while the stream may still move
	closeSent bool
	committed bool  // the handler started, or too much was sent: no more moves
	ended     bool  // the endpoint's count was given back
	err       error // the failure that ended the stream
}

// open opens the stream on an endpoint not tried yet and sends the
// messages sent so far there. After a not-executed failure it tries
// another, while the retry rules allow; cause is the failure that made
// the stream move (nil for the first open). mu is held.
func (s *stream) open(cause error) error {
	for {
		s.attempt++
		e, conn, err := s.c.pick(s.ctx, s.method, s.tried, true)
		if err != nil {
			return finalError(err, cause, nil)
		}
		if cause != nil {
			s.c.streams.retried.Add(1)
		}
		s.c.streams.opened.Add(1)
		cs, err := conn.OpenStream(s.ctx, s.method, s.kind)
		if err == nil {
			err = s.replay(cs)
		}
		if err == nil {
			s.cs, s.e, s.conn, s.ended = cs, e, conn, false
			s.gen++
			return nil
		}
		e.done(s.ctx, conn, err)
		s.tried = append(s.tried, e)
		if !ferry.NotExecuted(err) || !s.c.retryable(s.ctx, s.method, err, s.attempt) {
			if ferry.CodeOf(err) != ferry.CodeCanceled { // the caller's cancel is no failure
				s.c.streams.failed.Add(1)
			}
			return named(e, err)
		}
		cause = err
	}
}

// replay sends what the stream sent before it moved to cs.
func (s *stream) replay(cs ferry.ClientStream) error {
	for _, m := range s.sent {
		if err := cs.Send(m); err != nil {
			cs.Close()
			return err
		}
	}
	if s.closeSent {
		if err := cs.CloseSend(); err != nil {
			cs.Close()
			return err
		}
	}
	return nil
}

// move reopens the stream elsewhere after err on generation gen, if it
// may; it returns nil when the stream moved (or a concurrent call moved
// it already), otherwise the error to report. mu is held.
func (s *stream) move(gen int, err error) error {
	if gen != s.gen {
		return nil
	}
	if s.err != nil {
		return s.err
	}
	if s.committed || !ferry.NotExecuted(err) || !s.c.retryable(s.ctx, s.method, err, s.attempt) {
		return s.fail(err)
	}
	old := s.cs
	s.finish(err)
	old.Close()
	s.tried = append(s.tried, s.e)
	if oerr := s.open(err); oerr != nil {
		s.err = oerr
		s.ended = true
		return oerr
	}
	return nil
}

// fail ends the stream with err, named after its endpoint; after Close,
// with an error wrapping ferry.ErrClosed, as for a call. mu is held.
func (s *stream) fail(err error) error {
	if s.err == nil {
		if s.c.ctx.Err() != nil && !errors.Is(err, ferry.ErrClosed) {
			closed := ferry.WrapError(ferry.CodeCanceled, ferry.ErrClosed, "the cluster client was closed: "+ferry.FromError(err).Message)
			if ferry.NotExecuted(err) {
				closed = ferry.MarkNotExecuted(closed)
			}
			err = closed
		}
		s.err = named(s.e, err)
		if ferry.CodeOf(err) != ferry.CodeCanceled {
			s.c.streams.failed.Add(1)
		}
	}
	s.finish(err)
	return s.err
}

// finish gives the endpoint its count back, once per attempt. mu is held.
func (s *stream) finish(err error) {
	if !s.ended {
		s.ended = true
		s.e.done(s.ctx, s.conn, err)
	}
}

// named returns err with e's address in its message, keeping its code,
// details and not-executed flag.
func named(e *endpoint, err error) error {
	fe := ferry.FromError(err)
	out := ferry.WrapError(fe.Code, err, "endpoint "+e.addr+": "+fe.Message)
	out.Details = fe.Details
	if ferry.NotExecuted(err) {
		return ferry.MarkNotExecuted(out)
	}
	return out
}

func (s *stream) Context() context.Context { return s.ctx }

// Send sends one message, keeping it to send again while the stream may
// still move.
func (s *stream) Send(m any) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return s.err
	}
	if !s.committed {
		if len(s.sent) < maxReplay {
			s.sent = append(s.sent, m)
		} else {
			s.committed, s.sent = true, nil
		}
	}
	cs, gen := s.cs, s.gen
	s.mu.Unlock()
	err := cs.Send(m) // not under mu: it may wait for the window while Recv runs
	if err == nil {
		return nil
	}
	if code := ferry.CodeOf(err); code == ferry.CodeFailedPrecondition || code == ferry.CodeInternal ||
		code == ferry.CodeResourceExhausted && !ferry.NotExecuted(err) {
		return err // a local refusal (after CloseSend, unencodable, too big): the stream is still usable
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.move(gen, err)
}

// CloseSend ends the caller's side.
func (s *stream) CloseSend() error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return s.err
	}
	s.closeSent = true
	cs, gen := s.cs, s.gen
	s.mu.Unlock()
	if err := cs.CloseSend(); err != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.move(gen, err)
	}
	return nil
}

// Recv receives the next message; a not-executed refusal before the
// handler started moves the stream and receives there.
func (s *stream) Recv(m any) error {
	for range s.c.o.maxAttempts + 1 {
		s.mu.Lock()
		if s.err != nil {
			s.mu.Unlock()
			return s.err
		}
		cs, gen := s.cs, s.gen
		s.mu.Unlock()
		err := cs.Recv(m)
		dropped := errors.Is(err, ferry.ErrDropped) // a message came that m cannot hold: the stream goes on
		s.mu.Lock()
		if gen == s.gen && (err == nil || err == io.EOF || dropped) {
			s.committed, s.sent = true, nil // the handler started
		}
		switch {
		case err == nil, dropped:
			s.mu.Unlock()
			return err
		case err == io.EOF:
			if gen == s.gen {
				s.finish(nil)
			}
			s.mu.Unlock()
			return io.EOF
		}
		err = s.move(gen, err)
		s.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return ferry.NewError(ferry.CodeInternal, "the stream moved more often than the retry limit allows")
}

// Result decodes the handler's result after Recv returned io.EOF.
func (s *stream) Result(v any) error {
	s.mu.Lock()
	cs := s.cs
	s.mu.Unlock()
	return cs.Result(v)
}

// Close releases the stream, cancelling the call if it has not finished.
func (s *stream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.cs.Close()
	s.finish(nil)
	if s.err == nil {
		s.err = ferry.NewError(ferry.CodeCanceled, "the stream was closed")
	}
	return err
}
