package stream

import (
	"context"
	"github.com/ferryrpc/ferry/internal/bgroup"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/status"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/ferryrpc/ferry/transport"
	"github.com/hashicorp/yamux"
)

// Dialer opens streaming calls on one session: a client's to its server,
// or a server's to a client that serves streams.
type Dialer struct {
	Session interface {
		Open(context.Context) (net.Conn, error)
	}
	Limits wire.Limits
	// WriteTimeout fails a write that takes longer than this
	// (transport.Config.WriteTimeout): a server that stops reading ends
	// the call instead of holding Send forever, and so does one that
	// reads less than half its window per timeout (yamux grants window in
	// such steps). Zero: no bound.
	WriteTimeout time.Duration
	// Budget is charged for each stream's partial message (nil: none),
	// and Stall closes a stream whose peer holds part of a message that
	// long without sending more of it (transport.Config's MemoryBudget
	// and PartialMessageTimeout; zero: never), as on the serving side.
	Budget     wire.Account
	Stall      time.Duration
	Cancel     func(id uint32) error // tells the peer that the call on stream id was canceled ($ferry.cancelstream)
	Background *bgroup.Group         // runs the closes of abandoned streams; its owner waits for it
}

// call is the caller's end of a streaming call on the stream itself,
// under the interceptors.
type call struct {
	c    *Call
	cnt  *Counter
	d    *Dialer
	ctx  context.Context
	id   uint32
	stop func() bool
	cut  chan struct{} // closed once the context's abort has run
	once sync.Once
	told sync.Once // the cancel is sent once, whichever of ctx, Close and a failure ends the call first

	mu  sync.Mutex
	err error // the failure that ended the stream; later calls return it
}

// Open opens a streaming call to info.Method: the Streamer under the
// calling side's interceptors.
func (d *Dialer) Open(ctx context.Context, info *ferry.StreamInfo) (ferry.ClientStream, error) {
	method := info.Method
	if peer := d.Limits.Peer; !peer.Settled() {
		// A server's stream to its client, opened before the client's
		// hello was read (from the connect hook): its messages are
		// bounded by the client's limit too, which the hello tells.
		peer.Await(ctx.Done())
	}
	if err := ctx.Err(); err != nil {
		return nil, ferry.MarkNotExecuted(status.Context(err))
	}
	ext, ferr := status.RequestExt(ctx)
	if ferr != nil {
		return nil, ferr
	}
	st, err := d.Session.Open(ctx)
	if err != nil {
		return nil, openError(ctx, err)
	}
	cnt := &Counter{Conn: &refusable{Conn: st}}
	sc := New(cnt, d.Limits)
	sc.Bound(d.Budget, d.Stall)
	if d.WriteTimeout > 0 {
		sc.BoundWrites(nil, d.WriteTimeout)
	}
	if err := sc.WriteOpen(method, ext); err != nil {
		st.Close()
		if fe, ok := err.(*ferry.Error); ok { //nolint:errorlint // the stream layer's own refusal (past the message limit), never wrapped
			return nil, ferry.MarkNotExecuted(fe)
		}
		return nil, openError(ctx, err)
	}
	s := &call{c: sc, cnt: cnt, d: d, ctx: ctx, id: transport.StreamID(st), cut: make(chan struct{})}
	s.stop = context.AfterFunc(ctx, func() {
		defer close(s.cut)
		s.abort()
	})
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
func (s *call) abort() {
	if s.ctxErr() != context.DeadlineExceeded {
		s.told.Do(func() { _ = s.d.Cancel(s.id) })
	}
	s.c.Cut()
}

// Context returns the stream's context.
func (s *call) Context() context.Context { return s.ctx }

// WireBytes returns the bytes sent and received (ferry.WireCounter).
func (s *call) WireBytes() (sent, received int64) { return s.cnt.WireBytes() }

// Send sends one message. It blocks while the server's window is full,
// for at most the connection's WriteTimeout (transport.Config): a write
// that waits that long fails with CodeUnavailable ("stream write timed
// out") and ends the call (the server grants window in steps of half its
// StreamWindow: one that reads less than that per WriteTimeout too).
// After CloseSend it sends nothing and returns a *ferry.Error with
// CodeFailedPrecondition, as it does once the handler has finished
// successfully; once a failure ended the stream (the handler's error
// status included), that failure.
func (s *call) Send(v any) error {
	if err := s.failed(); err != nil {
		return err
	}
	if s.c.Final() {
		if err := s.c.Result(nil); err != nil {
			return err // the call failed: its status
		}
		return ferry.NewError(ferry.CodeFailedPrecondition, "Send after the call finished: the message was not sent")
	}
	if s.ctxErr() != nil {
		// A stream whose window has room takes a write past its cut:
		// send nothing once ctx has ended.
		return s.wrap(nil)
	}
	if err := s.c.Send(v); err != nil {
		return s.wrap(err)
	}
	return nil
}

// CloseSend tells the server no more messages will come. Calling it again
// does nothing. Once the context has ended, or a failure ended the
// stream, it sends nothing and returns that error, as Send does; once the
// call has finished, it sends nothing and returns its error status, or
// nil if it succeeded.
func (s *call) CloseSend() error {
	if err := s.failed(); err != nil {
		return err
	}
	if s.c.Final() {
		// The stream may be released already (Recv's end): nothing to
		// tell a handler that has returned.
		return s.c.Result(nil)
	}
	if s.ctxErr() != nil {
		return s.wrap(nil)
	}
	if err := s.c.CloseSend(); err != nil {
		return s.wrap(err)
	}
	return nil
}

// Recv receives the next message into v. It returns io.EOF when the
// handler finished successfully (its result is then available from
// Result), and the handler's error as a *ferry.Error when it failed.
func (s *call) Recv(v any) error {
	if err := s.failed(); err != nil {
		return err
	}
	if !s.c.Final() && s.ctxErr() != nil {
		return s.wrap(nil) // not a message that was buffered before ctx ended
	}
	err := s.c.Recv(v)
	for range maxEnds {
		if err != ErrEnd { //nolint:errorlint // Call.Recv returns ErrEnd itself
			break
		}
		// The server's [4]: it sends no more messages, its final status
		// follows (PROTOCOL.md 6 allows [4] both ways).
		err = s.c.Recv(v)
	}
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
func (s *call) Result(v any) error { return s.c.Result(v) }

// Close releases the stream, cancelling the call if it has not finished:
// Send and Recv then return CodeCanceled wrapping ferry.ErrClosed (the
// context's error if it ended first), those in flight included.
func (s *call) Close() error {
	if !s.c.Final() {
		ended := ferry.WrapError(ferry.CodeCanceled, ferry.ErrClosed, "the stream was closed by this side: the call was canceled")
		if ctxErr := s.ctxErr(); ctxErr != nil {
			ended = status.Context(ctxErr)
		}
		s.mu.Lock()
		if s.err == nil {
			s.err = ended
		}
		s.mu.Unlock()
		s.abort()
	}
	s.release()
	return nil
}

func (s *call) release() {
	s.once.Do(func() {
		stopped := s.stop()
		expired := s.ctxErr() == context.DeadlineExceeded
		if s.c.Final() || s.ctx.Err() == nil && !expired {
			s.c.Close()
			return
		}
		// Abandoned: closing may wait for a stalled connection. Once the
		// owner closes (its session is closed then), Go runs nothing and
		// the stream closes here, at once.
		if !s.d.Background.Go(func() {
			if expired {
				if !stopped {
					// The context's abort is cutting the stream: linger
					// after its cut, or the cut ends the lingering at
					// once and the server sees a cancel.
					<-s.cut
				}
				s.linger()
			}
			s.c.Close()
		}) {
			s.c.Close()
		}
	})
}

// maxEnds bounds the [4] frames Recv skips in a row.
const maxEnds = 16

// lingerMax bounds how long an expired stream stays open for the server to
// end it.
const lingerMax = 2 * time.Second

// linger keeps an expired stream open until the server ends it (its own
// deadline, sent with the call, passes a moment after ours), discarding
// what arrives: closing first would reach the server as a cancel, and its
// handler would see context.Canceled instead of DeadlineExceeded.
func (s *call) linger() {
	raw := s.c.Raw()
	_ = raw.SetReadDeadline(time.Now().Add(lingerMax))
	_, _ = io.Copy(io.Discard, raw)
}

// ctxErr is the stream's context error, counting a deadline that has
// passed before ctx's timer fired.
func (s *call) ctxErr() error {
	if err := s.ctx.Err(); err != nil {
		return err
	}
	if dl, ok := s.ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// failed returns the error that ended the stream, if one did.
func (s *call) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// wrap maps a failure of Send or Recv. A *ferry.Error of the stream layer
// (a local limit, a message that does not decode, Send after CloseSend)
// leaves the stream usable; anything else ends it: the context's error if
// ctx ended, the failure (or Close) that already ended the stream if one
// did (its abort cut the stream under this Send or Recv: the cut's
// timeout is no failure of its own), the final status if it has arrived,
// otherwise the transport failure as status maps it.
func (s *call) wrap(err error) error {
	if ctxErr := s.ctxErr(); ctxErr != nil {
		return s.end(status.Context(ctxErr))
	}
	if _, ok := err.(*ferry.Error); ok { //nolint:errorlint // only the stream layer's own errors, never wrapped, leave the stream usable
		return err
	}
	if ended := s.failed(); ended != nil {
		return ended
	}
	if s.c.Final() {
		// The final status arrived while this Send waited, and Recv
		// released the stream under it: the call's status, as a Send
		// after it gets, not the closed stream's error.
		if ferr := s.c.Result(nil); ferr != nil {
			return ferr
		}
		return ferry.NewError(ferry.CodeFailedPrecondition, "Send after the call finished: the message was not sent")
	}
	return s.end(status.Received(err))
}

// end records err as the stream's end, cancels the call on the server
// unless ctx already did, and releases the stream.
func (s *call) end(err *ferry.Error) error {
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

// refusable is a streaming call's session stream. A peer resets a
// stream only when it refuses it unserved (it is going away, or its accept
// backlog is full), so a reset before the first byte from the peer means
// that no handler ran: reads and writes then fail with a not-executed
// error.
type refusable struct {
	net.Conn
	got atomic.Bool // a byte came from the peer
}

var errStreamRefused = ferry.MarkNotExecuted(ferry.NewError(ferry.CodeUnavailable, "the peer refused the stream (it is going away, or at its limit)"))

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
