package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// Frame guard limits: what a hostile peer could otherwise use to make yamux
// start goroutines (one per ping) or streams without bound.
const (
	pingRate  = 16   // pings per second a peer may send, sustained
	pingBurst = 64   // and in a burst
	openRate  = 2000 // streams per second a peer may open, sustained
	openBurst = 4096 // and in a burst
)

// ErrHostilePeer is wrapped by the error that ends a session whose peer
// broke a frame-level limit.
var ErrHostilePeer = errors.New("ferry: peer broke a session limit")

// ErrWriteTimeout is wrapped by the cause of a session that ended because
// a write to its connection did not finish within WriteTimeout: the peer
// stopped reading, or the network stopped carrying. The cause names the
// connection's error without wrapping it, so it is no Timeout() error.
var ErrWriteTimeout = errors.New("ferry: a write to the connection timed out (WriteTimeout)")

// ErrPingTimeout is the cause of a session that ended because the peer
// did not answer a keepalive ping within WriteTimeout.
var ErrPingTimeout = errors.New("ferry: the peer did not answer a keepalive ping in time")

// ErrOpenTimeout is the cause of a session that ended because the peer
// did not acknowledge a stream this side opened within StreamOpenTimeout.
var ErrOpenTimeout = errors.New("ferry: the peer did not acknowledge a stream within StreamOpenTimeout")

// errPeerClosed is the cause of a session whose peer closed the
// connection; it wraps io.EOF.
var errPeerClosed = fmt.Errorf("ferry: the peer closed the connection: %w", io.EOF)

// ErrClosedHere is the cause of a session this side closed.
var ErrClosedHere = errors.New("ferry: the session was closed by this side")

// guard reads a session's inbound bytes before yamux does, parsing only
// the 12-byte frame headers, and ends the connection when the peer floods
// pings, opens streams too fast, or opens streams with ids of this side's
// (even ones belong to the accepting side, odd ones to the dialing side).
type guard struct {
	net.Conn
	accepting  bool
	hdr        [12]byte
	hn         int    // header bytes collected
	body       uint32 // data-frame body bytes still to pass
	pings      bucket
	opens      bucket
	mu         sync.Mutex
	cause      error  // why the session ended: its first read or write error, or a local end (ended)
	readFailed bool   // a read failed
	later      error  // a read's error that came with bytes: the next Read returns it (yamux's receive loop alone reads)
	onEnd      func() // called once, before the first read error reaches yamux
	acct       accounts
	onOpen     func() // called for every stream the peer opens; under mu
	early      int    // streams the peer opened before onOpen was set; under mu
	fins              // data frames' closes, moved behind their bodies
}

func newGuard(c net.Conn, accepting bool, b *Budget, closeTimeout time.Duration) *guard {
	return &guard{Conn: c, accepting: accepting,
		pings: bucket{rate: pingRate, burst: pingBurst, tokens: pingBurst},
		opens: bucket{rate: openRate, burst: openBurst, tokens: openBurst},
		acct:  accounts{budget: b, closeTimeout: closeTimeout, streams: map[uint32]*account{}}}
}

// Read returns the peer's bytes to yamux: frame headers only whole (a
// header's first bytes wait for the rest), as the guard checked them,
// with a data frame's close moved behind its body (splitFIN).
func (g *guard) Read(p []byte) (int, error) {
	for range 2 * len(g.hdr) { // each read brings a byte at least, and a header has 12
		if len(g.out) > 0 {
			n := copy(p, g.out)
			g.out = g.out[n:]
			return n, nil
		}
		if err := g.later; err != nil {
			g.later = nil
			return g.failed(0, err)
		}
		read := g.readOnce
		if len(p) < minGuardRead {
			read = g.readSmall
		}
		if n, err := read(p); n > 0 || err != nil {
			return n, err
		}
	}
	return 0, nil
}

// readOnce reads from the connection once, after the header bytes held
// back by the last read, and returns what yamux may have of it: all but
// the first bytes of a header still incomplete.
func (g *guard) readOnce(p []byte) (int, error) {
	k := copy(p, g.hdr[:g.hn]) // inspect collects them again, with the rest
	g.hn = 0
	n, err := g.Conn.Read(p[k:])
	if n += k; n > 0 {
		var gerr error
		if n, gerr = g.pass(p, n); gerr != nil {
			g.ended(gerr) // before the close, which fails a write in flight with an error of its own
			g.Conn.Close()
			n, err = 0, gerr
		}
	}
	if n > 0 && err != nil {
		// The bytes first (a tls.Conn returns its last record with
		// io.EOF): ending the session wakes the streams' readers, which
		// must find what these bytes carry already handled.
		g.later, err = err, nil
	}
	return g.failed(n, err)
}

// failed handles a read's error, if any, and returns n and err.
func (g *guard) failed(n int, err error) (int, error) {
	if err != nil {
		g.mu.Lock()
		first := !g.readFailed
		g.readFailed = true
		if g.cause == nil {
			g.cause = err
			if err == io.EOF {
				g.cause = errPeerClosed
			}
		}
		onEnd := g.onEnd
		g.mu.Unlock()
		if first && onEnd != nil {
			// yamux wakes every blocked stream reader when the session
			// ends, and they spin until its Close reaches each of them;
			// waking them first, with a deadline, lets them return.
			onEnd()
		}
	}
	return n, err
}

// peerOpened reports whether stream id belongs to the peer's side: odd
// ids are the dialer's, even ids the acceptor's.
func (g *guard) peerOpened(id uint32) bool { return (id%2 == 1) == g.accepting }

// opened tells onOpen that the peer opened a stream (yamux queues it for
// Accept once this frame is parsed), or counts it until onOpen is set.
func (g *guard) opened() {
	g.mu.Lock()
	fn := g.onOpen
	if fn == nil {
		g.early++
	}
	g.mu.Unlock()
	if fn != nil {
		fn()
	}
}

// setOnOpen sets onOpen and calls it for every stream opened before.
func (g *guard) setOnOpen(fn func()) {
	g.mu.Lock()
	g.onOpen = fn
	n := g.early
	g.early = 0
	g.mu.Unlock()
	for range n {
		fn()
	}
}

func (g *guard) readCause() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cause
}

// Write writes to the connection; its first error, if it comes before any
// read error, is why the session ended.
func (g *guard) Write(p []byte) (int, error) {
	n, err := g.Conn.Write(p)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The connection's error is named, not wrapped: a stream read
			// that returns this cause must not pass for a deadline of its
			// own (a Timeout() error).
			g.ended(fmt.Errorf("%w: %v", ErrWriteTimeout, err))
		} else {
			g.ended(err)
		}
	}
	return n, err
}

// ended records why the session is ending, unless a reason came first.
func (g *guard) ended(err error) {
	g.mu.Lock()
	if g.cause == nil {
		g.cause = err
	}
	g.mu.Unlock()
}

// inspect checks the frame headers in b, which holds every header that
// starts in it whole but for the last one, and notes where a frame's
// close goes (splitFIN).
func (g *guard) inspect(b []byte) error {
	for i := 0; i < len(b); {
		if g.body > 0 {
			k := min(uint32(len(b)-i), g.body)
			g.body -= k
			i += int(k)
			if g.body == 0 && g.finAfter {
				g.finAfter = false
				g.cuts = append(g.cuts, finCut{at: i, id: g.finID})
			}
			continue
		}
		k := copy(g.hdr[g.hn:], b[i:])
		g.hn += k
		i += k
		if g.hn < len(g.hdr) {
			return nil
		}
		g.hn = 0
		if err := g.frame(); err != nil {
			return err
		}
		if i >= len(g.hdr) { // the header is wholly in b, as Read passes it
			g.splitFIN(b[i-len(g.hdr) : i])
		}
	}
	return nil
}

func (g *guard) frame() error {
	h := g.hdr[:]
	typ, flags := h[1], binary.BigEndian.Uint16(h[2:])
	id, length := binary.BigEndian.Uint32(h[4:]), binary.BigEndian.Uint32(h[8:])
	const syn = 1
	switch {
	case h[0] != 0:
		return fmt.Errorf("%w: frame version %d", ErrHostilePeer, h[0])
	case typ == 0:
		g.body = length
	case typ > 3:
		return fmt.Errorf("%w: frame type %d", ErrHostilePeer, typ)
	}
	if typ <= 1 {
		if err := g.acct.frame(id, flags, g.peerOpened(id), typ == 0, length); err != nil {
			return err
		}
	}
	if flags&syn == 0 {
		return nil
	}
	switch typ {
	case 0, 1: // a stream opens
		if !g.peerOpened(id) {
			return fmt.Errorf("%w: it opened stream %d, an id reserved for this side", ErrHostilePeer, id)
		}
		if !g.opens.take() {
			return fmt.Errorf("%w: more than %d streams opened per second", ErrHostilePeer, openRate)
		}
		g.opened()
	case 2:
		if !g.pings.take() {
			return fmt.Errorf("%w: more than %d pings per second", ErrHostilePeer, pingRate)
		}
	}
	return nil
}

// bucket is a token bucket refilled by elapsed time.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func (b *bucket) take() bool {
	now := time.Now()
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
