package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"
)

// Session is a multiplexed connection: either side may open streams.
type Session struct {
	ys     *yamux.Session
	g      *guard
	budget *Budget

	mu      sync.Mutex
	live    map[*Stream]struct{}
	closed  map[uint32]*Stream // closed by this side, still known to yamux
	woken   bool
	onEnd   func() // called once the session ends (OnEnd); under mu
	endOnce sync.Once
	ready   chan struct{} // closed once ys is set
	ka      *keepalive    // nil without keepalives

	// openMu is held shared by every stream open in progress and
	// exclusively by Seal; sealed makes later opens fail.
	openMu sync.RWMutex
	sealed bool
}

// quietStreams is the most streams an accepting session may have for its
// frames to be written in yamux's send loop when nothing is queued: a
// client's call stream and a few streaming calls.
const quietStreams = 4

// Client starts the dialing side of a session over conn, with a budget of
// cfg.ConnBudget() bytes (MemoryBudget, raised so that one message of
// the largest size fits). It fails if cfg does not pass Validate.
func Client(conn net.Conn, cfg Config) (*Session, error) {
	return newSession(conn, cfg, false, NewBudget(cfg.ConnBudget(), nil))
}

// Server starts the accepting side of a session over conn, with a budget
// of cfg.ConnBudget() bytes (MemoryBudget, raised so that one message of
// the largest size fits). It fails if cfg does not pass Validate.
func Server(conn net.Conn, cfg Config) (*Session, error) {
	return newSession(conn, cfg, true, NewBudget(cfg.ConnBudget(), nil))
}

// ServerWithBudget is Server charging b (which may belong to a server-wide
// Pool) for what the peer makes this side hold.
func ServerWithBudget(conn net.Conn, cfg Config, b *Budget) (*Session, error) {
	return newSession(conn, cfg, true, b)
}

func newSession(conn net.Conn, cfg Config, accepting bool, b *Budget) (*Session, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Session{budget: b, live: map[*Stream]struct{}{}, closed: map[uint32]*Stream{}, ready: make(chan struct{})}
	s.g = newGuard(conn, accepting, b, cfg.StreamCloseTimeout)
	s.g.acct.onForget = s.forget
	s.g.acct.onTimeout = s.timedOut
	s.g.onEnd = s.end
	// A server batches the frames of its streams in a goroutine, but for
	// a session of few streams; a client writes each frame in yamux's
	// send loop (join.go and coalesce.go say why).
	var co net.Conn
	if accepting {
		c := newCoalescer(s.g, cfg.WriteTimeout)
		c.onClose = s.end
		c.quiet = func() bool { return s.g.acct.count.Load() <= quietStreams }
		co = c
	} else {
		j := newJoiner(s.g, cfg.WriteTimeout)
		j.onClose = s.end
		co = j
	}
	co = &openings{Conn: co, acct: &s.g.acct}
	if cfg.KeepAliveInterval > 0 {
		s.ka = &keepalive{s: s, every: cfg.KeepAliveInterval, logger: cfg.Logger}
	}
	var err error
	if accepting {
		s.ys, err = yamux.Server(co, cfg.yamuxFor(s.g))
	} else {
		s.ys, err = yamux.Client(co, cfg.yamuxFor(s.g))
	}
	if err != nil {
		return nil, err
	}
	close(s.ready)
	if s.ka != nil {
		s.ka.start()
	}
	return s, nil
}

// Budget returns the budget charged for what the peer makes this side
// hold. Engines on the session's streams charge it too.
func (s *Session) Budget() *Budget { return s.budget }

// Open opens a stream and returns once its opening frame is sent, without
// waiting for the peer's acknowledgement (a stream the peer leaves
// unacknowledged for StreamOpenTimeout closes the session). While
// AcceptBacklog streams this side opened are still unacknowledged, Open
// waits for one of them to be; ctx bounds that wait (yamux itself takes
// no context, so a stream opened late is closed).
func (s *Session) Open(ctx context.Context) (net.Conn, error) {
	if ctx.Done() == nil {
		return s.wrap(s.openStream())
	}
	type result struct {
		st  *yamux.Stream
		err error
	}
	ch := make(chan result, 1)
	go func() {
		st, err := s.openStream()
		ch <- result{st, err}
	}()
	select {
	case r := <-ch:
		return s.wrap(r.st, r.err)
	case <-ctx.Done():
		go func() {
			// Closed through wrap, so that its account (and a close
			// the peer sent early) is released.
			if r := <-ch; r.st != nil {
				if st, err := s.wrap(r.st, nil); err == nil {
					st.Close()
				}
			}
		}()
		return nil, ctx.Err()
	}
}

// OnOpen makes the session call fn once for every stream the peer opens,
// before Accept can return it (and at once for every stream opened
// before OnOpen), so that a side that rarely accepts streams can start
// its Accept loop on demand instead of parking one. fn runs in the
// session's receive loop: it must not block. A stream counted by fn may
// still never reach Accept (yamux refuses it when the backlog is full or
// after GoAway); then Accept waits until the next stream or the end.
func (s *Session) OnOpen(fn func()) { s.g.setOnOpen(fn) }

// openStream opens a yamux stream unless the session is sealed; the
// stream's opening frame is sent when it returns.
func (s *Session) openStream() (*yamux.Stream, error) {
	s.openMu.RLock()
	defer s.openMu.RUnlock()
	if s.sealed {
		return nil, yamux.ErrRemoteGoAway
	}
	return s.ys.OpenStream()
}

// Seal makes every later Open fail as a yamux go-away from the peer
// would, and returns once every Open in progress has sent its stream's
// opening frame. Whatever this side writes afterwards reaches the peer
// after those frames: a client answers a server's go-away this way, so
// that the server knows when no stream it has not seen is on its way.
func (s *Session) Seal() {
	s.openMu.Lock()
	s.sealed = true
	s.openMu.Unlock()
}

// Accept waits for the next stream the peer opens.
func (s *Session) Accept() (net.Conn, error) { return s.wrap(s.ys.AcceptStream()) }

// AcceptContext is Accept that gives up when ctx ends. With a ctx already
// ended it returns a stream waiting to be accepted, or ctx's error, at
// random when both are ready.
func (s *Session) AcceptContext(ctx context.Context) (net.Conn, error) {
	return s.wrap(s.ys.AcceptStreamWithContext(ctx))
}

func (s *Session) wrap(ys *yamux.Stream, err error) (net.Conn, error) {
	if err != nil {
		return nil, err
	}
	st := &Stream{ys: ys, s: s, id: ys.StreamID()}
	acc, tracked := s.g.acct.track(st.id, s.g.peerOpened(st.id))
	st.acc, st.gone = acc, !tracked
	s.mu.Lock()
	woken := s.woken
	if !woken {
		s.live[st] = struct{}{}
	}
	s.mu.Unlock()
	if woken {
		st.wake()
	}
	return st, nil
}

// end wakes every stream's blocked reader with a past deadline before the
// session ends, and releases the bytes charged for its streams. yamux
// v0.1.2's Stream.Read spins once the session's shutdown channel is closed
// until Session.Close reaches that stream (upstream PRs #127 and #176): with
// a thousand streams that kept the whole process busy for seconds.
func (s *Session) end() {
	s.endOnce.Do(func() {
		s.ka.stop()
		s.mu.Lock()
		s.woken = true
		live, closed := s.live, s.closed
		s.live, s.closed = nil, nil
		onEnd := s.onEnd
		s.onEnd = nil
		s.mu.Unlock()
		for st := range live {
			st.wake()
		}
		for _, st := range closed {
			st.wake()
		}
		s.dropLater(func() {
			for _, st := range closed {
				st.discard()
			}
		})
		s.g.acct.end()
		if onEnd != nil {
			onEnd()
		}
	})
}

// OnEnd makes the session call fn once it ends (or at once if it has
// ended), so that a side can release a session without a goroutine
// waiting for Done. fn may run before Done is closed, and in the
// session's receive loop or the goroutine that ends it: it must not block
// (starting a goroutine that waits for Done is its job).
func (s *Session) OnEnd(fn func()) {
	s.mu.Lock()
	ended := s.woken
	if !ended {
		s.onEnd = fn
	}
	s.mu.Unlock()
	if ended {
		fn()
	}
}

// dropLater runs drop once yamux has shut the session down: reading a
// stream may send a window update, which waits for the send loop until
// then, and end may run inside yamux's receive loop.
// The goroutine ends soon after the session: it needs no owner to wait.
func (s *Session) dropLater(drop func()) {
	go func() {
		<-s.ready
		<-s.ys.CloseChan()
		drop()
	}()
}

// shrink releases the receive buffers of open streams that hold no data:
// an idle stream keeps none (one in use gets a new one with its next
// frame).
func (s *Session) shrink() {
	s.mu.Lock()
	live := make([]*Stream, 0, len(s.live))
	for st := range s.live {
		live = append(live, st)
	}
	s.mu.Unlock()
	// Not under mu: yamux's receive loop holds a stream's receive lock
	// while it reads through the guard, whose accounts take mu.
	for _, st := range live {
		st.ys.Shrink()
	}
}

// timedOut drops what the peer sent on stream id, closed by this side,
// which the peer has not closed in time.
func (s *Session) timedOut(id uint32) {
	s.mu.Lock()
	st := s.closed[id]
	s.mu.Unlock()
	if st != nil {
		_ = st.ys.SetReadDeadline(time.Unix(1, 0))
		st.discard()
	}
}

// forget is told by the accounts that yamux dropped stream id.
func (s *Session) forget(id uint32) {
	s.mu.Lock()
	delete(s.closed, id)
	s.mu.Unlock()
}

// Cause returns why the session ended, or nil while it is healthy: the
// first of its connection's read error (the peer's close, a reset, a TLS
// alert, a broken frame limit: ErrHostilePeer, ErrMemoryBudget), its
// write error (one wrapping ErrWriteTimeout and naming the connection's
// error when the peer stopped reading), ErrPingTimeout, ErrOpenTimeout
// and ErrClosedHere.
func (s *Session) Cause() error { return s.g.readCause() }

// GoAway tells the peer to open no more streams.
func (s *Session) GoAway() error { return s.ys.GoAway() }

// Ping sends a ping and waits for the peer's answer (within the write
// timeout). The peer handles frames in order: once it answers a ping sent
// after GoAway, it has seen the go-away, and every stream it opened before
// has reached this side.
func (s *Session) Ping() error {
	_, err := s.ys.Ping()
	return err
}

// Close ends the session and every stream in it, and waits for a
// keepalive ping under way.
func (s *Session) Close() error {
	s.g.ended(ErrClosedHere)
	s.end()
	err := s.ys.Close()
	s.ka.wait()
	return err
}

// Done is closed when the session ends.
func (s *Session) Done() <-chan struct{} { return s.ys.CloseChan() }

// NumStreams reports the streams open now.
func (s *Session) NumStreams() int { return s.ys.NumStreams() }

// RemoteAddr returns the peer's address.
func (s *Session) RemoteAddr() net.Addr { return s.ys.RemoteAddr() }

// Stream is one stream of a Session, a net.Conn. Close is a half-close:
// the peer may still send until it closes too (or StreamCloseTimeout).
type Stream struct {
	ys *yamux.Stream // unexported: no yamux type in Ferry's API
	s  *Session
	id uint32
	// gone: the peer reset the stream (or closed it both ways) before it
	// was accepted, or reset it before Open returned; yamux has forgotten
	// it, no frame will come for it, and nothing is accounted for it.
	gone bool
	acc  *account // its account, which notes the peer's close; nil if none
	// localClosed: Close was called (a write fails as yamux says then).
	localClosed atomic.Bool

	mu       sync.Mutex
	dead     bool // the session ended: reads never block again
	deadline bool // a read deadline is set
	// rmu lets one goroutine read at a time: yamux's Stream.Read takes
	// its locks in an order that deadlocks two readers of a closing
	// stream (discard and a reader that has not returned yet).
	rmu sync.Mutex
	wmu sync.Mutex // one Write at a time, in all its pieces
}

// maxFrameBody bounds the data of a frame this side sends. yamux's send
// loop copies each frame's data into a buffer that it keeps, as large as
// the largest, for the session's life, charged to no budget; a frame was
// as large as the write, up to the window the peer grants (a peer may
// grant 4 GiB), so that a peer that once received a 4 MiB reply left
// 4 MiB in every session it kept open (32 idle sessions, 128 MiB of heap
// in the example server; TestAudit13IdleSessionsKeepNoLargeFrame). The
// bound is the default StreamWindow, the most a Ferry peer grants by
// default, so frames to default peers are as before: BenchmarkBulk-style
// runs of the comparison suite (1 MiB echoes, 4 callers, alternated 2 s
// windows) measured 0.58 of raw TCP with 1 MiB frames and 0.59 without a
// bound, but 0.50 with 256 KiB frames.
const maxFrameBody = 1 << 20

// Read reads data the peer sent, and after the data that had arrived
// returns io.EOF once the peer closed the stream, or, once the session
// ended without that, an error wrapping ErrSessionEnded and saying why
// (Session.Cause). Past the read deadline it returns
// os.ErrDeadlineExceeded, as net.Conn's contract says.
func (st *Stream) Read(p []byte) (int, error) {
	st.rmu.Lock()
	n, err := st.ys.Read(p)
	st.rmu.Unlock()
	if n > 0 {
		st.s.g.acct.read(st.id, n)
	}
	if err == yamux.ErrTimeout {
		st.mu.Lock()
		if st.dead {
			err = io.EOF
		}
		st.mu.Unlock()
	}
	if err == io.EOF && (st.acc == nil || !st.acc.fin.Load()) && st.s.ended() {
		err = st.s.endErr()
	}
	switch err {
	case yamux.ErrConnectionWriteTimeout: // a read sends window updates
		err = errFrameTimeout
	case yamux.ErrTimeout:
		err = os.ErrDeadlineExceeded
	}
	return n, err
}

// errFrameTimeout is what a stream's Read returns when the session did not
// take a frame of the stream (a window update) for the socket within
// WriteTimeout (yamux's ErrConnectionWriteTimeout).
var errFrameTimeout = fmt.Errorf("%w: the session could not send a frame of this stream", ErrWriteTimeout)

// frameTimeout is errFrameTimeout as a Write returns it: a timeout, as the
// write deadline's is, so that the stream's writer reports both alike.
type frameTimeout struct{}

func (frameTimeout) Error() string { return errFrameTimeout.Error() }
func (frameTimeout) Timeout() bool { return true }
func (frameTimeout) Unwrap() error { return errFrameTimeout }

// ErrSessionEnded is wrapped by what a stream's Read returns once its
// session ended before the peer closed the stream.
var ErrSessionEnded = errors.New("ferry: the connection ended")

// ended reports whether the session has ended.
func (s *Session) ended() bool {
	select {
	case <-s.ys.CloseChan():
		return true
	default:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.woken
}

// endErr is the error of a stream read after the session ended.
func (s *Session) endErr() error {
	if cause := s.Cause(); cause != nil {
		return endedError{cause}
	}
	return ErrSessionEnded
}

// endedError is ErrSessionEnded with its cause, which its text gives.
type endedError struct{ cause error }

func (e endedError) Error() string { return e.cause.Error() }

func (e endedError) Unwrap() []error { return []error{ErrSessionEnded, e.cause} }

// SetReadDeadline sets the read deadline; once the session has ended it
// stays in the past.
func (st *Stream) SetReadDeadline(t time.Time) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.dead {
		return nil
	}
	st.deadline = !t.IsZero()
	err := st.ys.SetReadDeadline(t)
	st.s.g.acct.wake(st.id) // a parked reader must see the deadline
	return err
}

// Park lets the goroutine that reads the stream exit while nothing
// arrives: unless a Read could return at once (data or the peer's close
// has arrived, a read deadline is set, the session ended), it arranges
// for resume to be called once, as soon as a Read may have something to
// return (data, the peer's close or reset, a read deadline, this side's
// close, the end of the session), and returns true; otherwise it returns
// false and never calls resume. resume runs in the session's receive loop
// or in the goroutine that sets the deadline or closes: it must not block
// nor call the stream's methods (starting a goroutine to read is its job).
// One reader parks at a time.
func (st *Stream) Park(resume func()) bool {
	// An empty receive buffer is not kept while idle. Not under mu:
	// yamux's receive loop holds the receive lock while it copies a
	// frame's body, and a read error there ends the session, whose end
	// takes mu (wake).
	st.ys.Shrink()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.dead || st.deadline {
		return false
	}
	return st.s.g.acct.park(st.id, resume)
}

// Write writes data to the stream; it blocks while the peer's window is
// full, until the write deadline, past which it returns
// os.ErrDeadlineExceeded, as net.Conn's contract says.
//
// Once the session has ended, it fails with an error wrapping
// ErrSessionEnded and saying why (Session.Cause).
func (st *Stream) Write(p []byte) (int, error) {
	// In pieces of at most maxFrameBody, one writer at a time, so that a
	// message's pieces are not mixed with another's.
	st.wmu.Lock()
	n, err := 0, error(nil)
	for err == nil && n < len(p) {
		var m int
		m, err = st.ys.Write(p[n:min(len(p), n+maxFrameBody)])
		n += m
	}
	st.wmu.Unlock()
	switch {
	case err == yamux.ErrSessionShutdown:
		err = st.s.endErr()
	case err == yamux.ErrStreamClosed && !st.localClosed.Load() && st.s.ended():
		err = st.s.endErr() // the session's end closed it
	case err != nil && err != yamux.ErrTimeout && err != yamux.ErrStreamClosed && err != yamux.ErrConnectionReset && st.s.ended():
		// The connection's own error, once the session is over; a reset
		// stays the stream's own (the peer refused it), as Read says.
		err = st.s.endErr()
	case err == yamux.ErrConnectionWriteTimeout:
		err = frameTimeout{}
	case err == yamux.ErrTimeout:
		err = os.ErrDeadlineExceeded
	}
	return n, err
}

// SetWriteDeadline sets the write deadline.
func (st *Stream) SetWriteDeadline(t time.Time) error { return st.ys.SetWriteDeadline(t) }

// LocalAddr returns the session's local address.
func (st *Stream) LocalAddr() net.Addr { return st.ys.LocalAddr() }

// RemoteAddr returns the peer's address.
func (st *Stream) RemoteAddr() net.Addr { return st.ys.RemoteAddr() }

// StreamID returns the stream's number in its session (see the package
// function StreamID).
func (st *Stream) StreamID() uint32 { return st.id }

// Buffered reports how many bytes the peer has sent on the stream that no
// Read has returned yet: those yamux holds, counted from the moment a data
// frame's header arrives (its body may still be on its way).
func (st *Stream) Buffered() int { return st.s.g.acct.buffered(st.id) }

// SetDeadline sets both deadlines (see SetReadDeadline).
func (st *Stream) SetDeadline(t time.Time) error {
	_ = st.SetReadDeadline(t)
	return st.ys.SetWriteDeadline(t)
}

// Close closes this side of the stream.
func (st *Stream) Close() error {
	st.localClosed.Store(true)
	s := st.s
	s.mu.Lock()
	delete(s.live, st)
	ended := s.woken
	if !ended && !st.gone {
		s.closed[st.id] = st // until yamux forgets it
	}
	s.mu.Unlock()
	err := st.ys.Close()
	if ended {
		st.wake()
		s.dropLater(st.discard)
	} else {
		st.ys.Shrink() // an empty receive buffer is not kept
	}
	if !s.g.acct.closed(st.id) {
		// yamux forgot the stream before this Close (the peer reset it
		// after it was accepted): no forget will come to drop it from
		// closed.
		s.forget(st.id)
	}
	s.g.acct.wake(st.id)
	return err
}

// discard drops what the peer sent and nobody will read, and the buffer
// that held it; the stream's read deadline is in the past.
func (st *Stream) discard() {
	var b [4 << 10]byte
	for i := 0; i < 1<<16; i++ { // at most 256 MiB: a window is at most 64 MiB
		st.rmu.Lock()
		n, err := st.ys.Read(b[:])
		st.rmu.Unlock()
		st.s.g.acct.read(st.id, n)
		if err != nil {
			break
		}
	}
	st.ys.Shrink()
}

func (st *Stream) wake() {
	st.mu.Lock()
	st.dead = true
	_ = st.ys.SetReadDeadline(time.Unix(1, 0))
	st.s.g.acct.wake(st.id)
	st.mu.Unlock()
}
