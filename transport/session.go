package transport

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
)

// Session is a multiplexed connection: either side may open streams.
type Session struct {
	ys *yamux.Session
	g  *guard
}

// Client starts the dialing side of a session over conn.
func Client(conn net.Conn, cfg Config) (*Session, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := newGuard(conn, false)
	ys, err := yamux.Client(newCoalescer(g, cfg.WriteTimeout), cfg.yamux())
	if err != nil {
		return nil, err
	}
	return &Session{ys: ys, g: g}, nil
}

// Server starts the accepting side of a session over conn.
func Server(conn net.Conn, cfg Config) (*Session, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := newGuard(conn, true)
	ys, err := yamux.Server(newCoalescer(g, cfg.WriteTimeout), cfg.yamux())
	if err != nil {
		return nil, err
	}
	return &Session{ys: ys, g: g}, nil
}

// Open opens a stream. ctx bounds the wait for the peer's acknowledgement
// (yamux itself takes no context, so a late stream is closed).
func (s *Session) Open(ctx context.Context) (net.Conn, error) {
	if ctx.Done() == nil {
		return s.ys.OpenStream()
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
		return r.st, r.err
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
func (s *Session) Accept() (net.Conn, error) { return s.ys.AcceptStream() }

// Cause returns the read error that ended the session (a TLS alert, a
// reset, a broken frame limit), or nil while it is healthy or when it
// ended another way.
func (s *Session) Cause() error { return s.g.readCause() }

// GoAway tells the peer to open no more streams.
func (s *Session) GoAway() error { return s.ys.GoAway() }

// Close ends the session and every stream in it.
func (s *Session) Close() error { return s.ys.Close() }

// Done is closed when the session ends.
func (s *Session) Done() <-chan struct{} { return s.ys.CloseChan() }

// NumStreams reports the streams open now.
func (s *Session) NumStreams() int { return s.ys.NumStreams() }

// RemoteAddr returns the peer's address.
func (s *Session) RemoteAddr() net.Addr { return s.ys.RemoteAddr() }

// coalescer sits under yamux and sends each data frame's 12-byte header
// together with its body in one write, instead of yamux's two. Small
// bodies are copied behind the header into a reused buffer; large ones go
// out with writev.
type coalescer struct {
	net.Conn
	timeout time.Duration // every write's deadline: a peer that stops reading breaks the session
	mu      sync.Mutex
	held    bool
	buf     []byte
	bufs    net.Buffers
}

const coalesceCopyMax = 64 << 10

func newCoalescer(c net.Conn, timeout time.Duration) net.Conn {
	return &coalescer{Conn: c, timeout: timeout, buf: make([]byte, 0, 4096)}
}

func (c *coalescer) deadline() {
	if c.timeout > 0 {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	}
}

func (c *coalescer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline()
	if c.held {
		c.held = false
		if len(p) <= coalesceCopyMax {
			c.buf = append(c.buf[:12], p...)
			n, err := c.Conn.Write(c.buf)
			if cap(c.buf) > 4*coalesceCopyMax {
				c.buf = make([]byte, 0, 4096)
			}
			return max(n-12, 0), err
		}
		c.bufs = append(c.bufs[:0], c.buf[:12], p)
		n, err := c.bufs.WriteTo(c.Conn)
		return max(int(n)-12, 0), err
	}
	// A data frame header (version 0, type 0) announcing a body: hold it.
	if len(p) == 12 && p[0] == 0 && p[1] == 0 && (p[8]|p[9]|p[10]|p[11]) != 0 {
		c.buf = append(c.buf[:0], p...)
		c.held = true
		return len(p), nil
	}
	return c.Conn.Write(p)
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
	case b[0] == 0:
		return ProtocolSession, pc, nil
	case b[0]&0xf0 == 0x90 || b[0] == 0xdc || b[0] == 0xdd:
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
