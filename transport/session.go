package transport

import (
	"context"
	"errors"
	"github.com/ferryrpc/ferry/internal/wire"
	"io"
	"net"
	"runtime"
	"sync"
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
	endOnce sync.Once
	ready   chan struct{} // closed once ys is set
}

// Client starts the dialing side of a session over conn, with a budget of
// cfg.MemoryBudget bytes.
func Client(conn net.Conn, cfg Config) (*Session, error) {
	return newSession(conn, cfg, false, NewBudget(cfg.ConnBudget(), nil))
}

// Server starts the accepting side of a session over conn, with a budget
// of cfg.MemoryBudget bytes.
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
	co := newCoalescer(s.g, cfg.WriteTimeout)
	co.(*coalescer).onClose = s.end
	var err error
	if accepting {
		s.ys, err = yamux.Server(co, cfg.yamux())
	} else {
		s.ys, err = yamux.Client(co, cfg.yamux())
	}
	if err != nil {
		return nil, err
	}
	close(s.ready)
	return s, nil
}

// Budget returns the budget charged for what the peer makes this side
// hold. Engines on the session's streams charge it too.
func (s *Session) Budget() *Budget { return s.budget }

// Open opens a stream. ctx bounds the wait for the peer's acknowledgement
// (yamux itself takes no context, so a late stream is closed).
func (s *Session) Open(ctx context.Context) (net.Conn, error) {
	if ctx.Done() == nil {
		return s.wrap(s.ys.OpenStream())
	}
	type result struct {
		st  *yamux.Stream
		err error
	}
	ch := make(chan result, 1)
	go func() {
		st, err := s.ys.OpenStream()
		ch <- result{st, err}
	}()
	select {
	case r := <-ch:
		return s.wrap(r.st, r.err)
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.st != nil {
				r.st.Close()
			}
		}()
		return nil, ctx.Err()
	}
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
	st := &Stream{Stream: ys, s: s, id: ys.StreamID()}
	s.g.acct.track(st.id)
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
		s.mu.Lock()
		s.woken = true
		live, closed := s.live, s.closed
		s.live, s.closed = nil, nil
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
	})
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

// timedOut drops what the peer sent on stream id, closed by this side,
// which the peer has not closed in time.
func (s *Session) timedOut(id uint32) {
	s.mu.Lock()
	st := s.closed[id]
	s.mu.Unlock()
	if st != nil {
		_ = st.Stream.SetReadDeadline(time.Unix(1, 0))
		st.discard()
	}
}

// forget is told by the accounts that yamux dropped stream id.
func (s *Session) forget(id uint32) {
	s.mu.Lock()
	delete(s.closed, id)
	s.mu.Unlock()
}

// Cause returns the read error that ended the session (a TLS alert, a
// reset, a broken frame limit), or nil while it is healthy or when it
// ended another way.
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

// Close ends the session and every stream in it.
func (s *Session) Close() error {
	s.end()
	return s.ys.Close()
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
	*yamux.Stream
	s  *Session
	id uint32

	mu   sync.Mutex
	dead bool // the session ended: reads never block again
	// rmu lets one goroutine read at a time: yamux's Stream.Read takes
	// its locks in an order that deadlocks two readers of a closing
	// stream (discard and a reader that has not returned yet).
	rmu sync.Mutex
}

// Read reads data the peer sent; it returns io.EOF once the peer closed
// the stream or the session ended, after the data that had arrived.
func (st *Stream) Read(p []byte) (int, error) {
	st.rmu.Lock()
	n, err := st.Stream.Read(p)
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
	return n, err
}

// SetReadDeadline sets the read deadline; once the session has ended it
// stays in the past.
func (st *Stream) SetReadDeadline(t time.Time) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.dead {
		return nil
	}
	return st.Stream.SetReadDeadline(t)
}

// SetDeadline sets both deadlines (see SetReadDeadline).
func (st *Stream) SetDeadline(t time.Time) error {
	_ = st.SetReadDeadline(t)
	return st.Stream.SetWriteDeadline(t)
}

// Close closes this side of the stream.
func (st *Stream) Close() error {
	s := st.s
	s.mu.Lock()
	delete(s.live, st)
	ended := s.woken
	if !ended {
		s.closed[st.id] = st
	}
	s.mu.Unlock()
	err := st.Stream.Close()
	if ended {
		st.wake()
		s.dropLater(st.discard)
	} else {
		st.Stream.Shrink() // an empty receive buffer is not kept
	}
	s.g.acct.closed(st.id)
	return err
}

// discard drops what the peer sent and nobody will read, and the buffer
// that held it; the stream's read deadline is in the past.
func (st *Stream) discard() {
	var b [4 << 10]byte
	for i := 0; i < 1<<16; i++ { // at most 256 MiB: a window is at most 64 MiB
		st.rmu.Lock()
		n, err := st.Stream.Read(b[:])
		st.rmu.Unlock()
		st.s.g.acct.read(st.id, n)
		if err != nil {
			break
		}
	}
	st.Stream.Shrink()
}

func (st *Stream) wake() {
	st.mu.Lock()
	st.dead = true
	_ = st.Stream.SetReadDeadline(time.Unix(1, 0))
	st.mu.Unlock()
}

// coalescer sits under yamux and batches its writes: yamux writes every
// frame header and body separately, from one goroutine, and waits for each
// write. The coalescer appends them to a buffer and returns at once; a
// flusher goroutine, after yielding once so that more frames can join,
// writes everything pending in one system call. Frames from every stream of
// the session share the batches. Large bodies skip the buffer (after the
// pending bytes are written, to keep the order). The flusher is started on
// demand and exits after a second of idleness, so idle sessions cost no
// goroutine.
type coalescer struct {
	net.Conn
	timeout time.Duration // every write's deadline: a peer that stops reading breaks the session

	mu       sync.Mutex
	cond     sync.Cond
	buf      []byte // pending bytes
	spare    []byte
	writing  bool // the flusher is writing a batch
	running  bool // the flusher goroutine exists
	wake     chan struct{}
	err      error
	closed   bool
	flushers sync.WaitGroup
	onClose  func() // called when the connection breaks or closes, before it does
}

const (
	coalesceDirect  = 64 << 10 // writes this large skip the buffer
	coalesceMax     = 1 << 20  // writers wait while this much is pending
	coalesceIdle    = time.Second
	coalesceInitial = 4 << 10
)

func newCoalescer(c net.Conn, timeout time.Duration) net.Conn {
	w := &coalescer{Conn: c, timeout: timeout, wake: make(chan struct{}, 1)}
	w.cond.L = &w.mu
	return w
}

func (w *coalescer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.err == nil && len(w.buf) >= coalesceMax {
		w.cond.Wait()
	}
	if w.err != nil {
		return 0, w.err
	}
	if len(p) >= coalesceDirect {
		for w.err == nil && (w.writing || len(w.buf) > 0) {
			w.signal()
			w.cond.Wait()
		}
		if w.err != nil {
			return 0, w.err
		}
		w.writing = true
		w.mu.Unlock()
		n, err := w.write(p)
		w.mu.Lock()
		w.writing = false
		w.fail(err)
		w.cond.Broadcast()
		return n, err
	}
	if w.buf == nil {
		w.buf = w.spare[:0]
		if w.buf == nil {
			w.buf = make([]byte, 0, coalesceInitial)
		}
		w.spare = nil
	}
	w.buf = append(w.buf, p...)
	w.signal()
	return len(p), nil
}

// signal wakes the flusher, starting it if needed; mu is held.
func (w *coalescer) signal() {
	if !w.running && !w.closed {
		w.running = true
		w.flushers.Add(1)
		go w.flusher()
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *coalescer) write(p []byte) (int, error) {
	if w.timeout > 0 {
		_ = w.Conn.SetWriteDeadline(time.Now().Add(w.timeout))
	}
	return w.Conn.Write(p)
}

// fail records the first write error and breaks the connection, so that
// yamux's reader fails too and the session ends; mu is held.
func (w *coalescer) fail(err error) {
	if err != nil && w.err == nil {
		w.err = err
		if w.onClose != nil {
			// Before yamux learns of the failure (its writes wait for mu):
			// once it does, it closes the session and its stream readers
			// spin until they are woken. The session's end takes no lock
			// that a coalescer caller holds.
			w.onClose()
		}
		w.Conn.Close()
	}
}

func (w *coalescer) flusher() {
	defer w.flushers.Done()
	idle := time.NewTimer(coalesceIdle)
	defer idle.Stop()
	for {
		select {
		case <-w.wake:
		case <-idle.C:
			w.mu.Lock()
			if len(w.buf) == 0 && !w.writing {
				w.running = false
				w.mu.Unlock()
				return
			}
			w.mu.Unlock()
		}
		runtime.Gosched() // let more frames join the batch
		w.mu.Lock()
		for len(w.buf) > 0 && !w.writing && w.err == nil {
			batch := w.buf
			w.buf = nil
			w.writing = true
			w.mu.Unlock()
			_, err := w.write(batch)
			w.mu.Lock()
			w.writing = false
			if cap(batch) <= 4*coalesceDirect {
				w.spare = batch[:0]
			}
			w.fail(err)
		}
		if w.err != nil {
			w.buf = nil // the connection is broken: pending frames can never be sent
		}
		w.cond.Broadcast()
		stop := w.closed && len(w.buf) == 0
		if stop {
			w.running = false
		}
		w.mu.Unlock()
		if stop {
			return
		}
		idle.Reset(coalesceIdle)
	}
}

// Close writes what is pending (within the write timeout), stops the
// flusher and closes the connection.
func (w *coalescer) Close() error {
	if w.onClose != nil {
		w.onClose()
	}
	w.mu.Lock()
	w.closed = true
	if w.running {
		w.signal()
	}
	w.mu.Unlock()
	w.flushers.Wait()
	w.mu.Lock()
	if w.err == nil {
		w.err = net.ErrClosed
	}
	w.cond.Broadcast()
	w.mu.Unlock()
	return w.Conn.Close()
}

// ErrUnknownProtocol is returned by Sniff for a first byte that starts
// neither a yamux session nor a MessagePack-RPC message.
var ErrUnknownProtocol = errors.New("ferry: unknown protocol")

// Protocol is what a connection speaks.
type Protocol int

// The protocols a Ferry port serves.
const (
	ProtocolSession    Protocol = iota + 1 // a yamux session of Ferry streams
	ProtocolMsgpackRPC                     // bare MessagePack-RPC
)

// Sniff reads conn's first byte within timeout and returns the protocol
// and a net.Conn that yields that byte again.
func Sniff(conn net.Conn, timeout time.Duration) (Protocol, net.Conn, error) {
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	var b [1]byte
	if _, err := conn.Read(b[:]); err != nil {
		return 0, nil, err
	}
	_ = conn.SetReadDeadline(time.Time{})
	pc := &prefixConn{Conn: conn, first: b[0], has: true}
	switch {
	case b[0] == wire.SessionByte:
		return ProtocolSession, pc, nil
	case wire.IsArrayStart(b[0]):
		return ProtocolMsgpackRPC, pc, nil
	}
	return 0, nil, ErrUnknownProtocol
}

// Prepend returns a net.Conn whose first Read yields b and then reads
// from conn.
func Prepend(conn net.Conn, b byte) net.Conn { return &prefixConn{Conn: conn, first: b, has: true} }

// StreamID returns the session stream number of a stream returned by Open
// or Accept (the same number on both sides), or 0 for another conn.
func StreamID(conn net.Conn) uint32 {
	if s, ok := conn.(interface{ StreamID() uint32 }); ok {
		return s.StreamID()
	}
	return 0
}

type prefixConn struct {
	net.Conn
	first byte
	has   bool
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if p.has && len(b) > 0 {
		b[0] = p.first
		p.has = false
		return 1, nil
	}
	return p.Conn.Read(b)
}
