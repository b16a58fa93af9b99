package main

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// The yamux frame layout, spoken by hand so that an attack can send what
// a well-behaved yamux never would.
const (
	typeData   = 0
	typeWindow = 1
	typePing   = 2
	typeGoAway = 3

	flagSYN = 1
	flagACK = 2
	flagFIN = 4
	flagRST = 8

	headerSize    = 12
	initialWindow = 256 << 10 // every yamux stream starts with this window
	maxFrame      = 64 << 10  // the largest data frame this session writes
)

var errSessionDead = errors.New("attack: session ended")

// appendFrame appends a frame header: version 0, type, flags, stream id,
// length (the body's size, or a window delta, or a ping's opaque value).
func appendFrame(b []byte, typ byte, flags uint16, id, length uint32) []byte {
	b = append(b, 0, typ)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint32(b, id)
	return binary.BigEndian.AppendUint32(b, length)
}

// session is a client side of a yamux session over a raw TCP connection.
// It tracks the server's acknowledgements and send windows, answers pings,
// and gives the server window back for the data it sends only if grant is
// set: without it, the server's replies stall once a stream's window is
// full, as if the client never read them.
type session struct {
	c     net.Conn
	grant bool

	wmu  sync.Mutex   // serialises frames on c
	sent atomic.Int64 // bytes written

	mu       sync.Mutex
	cond     *sync.Cond
	credit   map[uint32]int // bytes the server lets us send, per stream
	ended    map[uint32]bool
	acks     int // streams the server accepted
	closes   int // streams the server closed or reset
	received int64
	dead     bool
	next     uint32
	done     chan struct{}
}

// dialSession connects to addr; ctx's deadline bounds every write.
func dialSession(ctx context.Context, addr string, grant bool) (*session, error) {
	c, err := dialTCP(ctx, addr)
	if err != nil {
		return nil, err
	}
	s := &session{c: c, grant: grant, credit: map[uint32]int{}, ended: map[uint32]bool{}, next: 1, done: make(chan struct{})}
	s.cond = sync.NewCond(&s.mu)
	context.AfterFunc(ctx, s.wake)
	go s.readLoop()
	return s, nil
}

// attackerIP is the source address of every attacking connection. The
// probes dial from the default 127.0.0.1, so a per-IP bound on the server
// can tell them apart.
var attackerIP = net.IPv4(127, 0, 0, 2)

// dialTCP connects to addr from attackerIP, with ctx's deadline as the
// write deadline.
func dialTCP(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: attackerIP}}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetWriteDeadline(dl)
	}
	return c, nil
}

// drop closes a connection with a reset, leaving no TIME_WAIT behind (a
// run opens tens of thousands of connections).
func drop(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

func (s *session) wake() {
	s.mu.Lock()
	s.cond.Broadcast()
	s.mu.Unlock()
}

// close drops the connection and waits for the reader.
func (s *session) close() {
	drop(s.c)
	<-s.done
}

// open reserves the next stream id; its first write carries the SYN.
func (s *session) open() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.next
	s.next += 2
	s.credit[id] = initialWindow
	return id
}

// writeFrames writes whole frames as they are, ignoring flow control.
func (s *session) writeFrames(b ...[]byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	bufs := net.Buffers(b)
	n, err := bufs.WriteTo(s.c)
	s.sent.Add(n)
	return err
}

// write sends p on stream id as data frames, waiting for window as yamux
// would; syn opens the stream with the first frame. It gives up when ctx
// ends, the session dies or the server closes the stream.
func (s *session) write(ctx context.Context, id uint32, p []byte, syn bool) error {
	for len(p) > 0 {
		s.mu.Lock()
		for s.credit[id] == 0 && !s.dead && !s.ended[id] && ctx.Err() == nil {
			s.cond.Wait()
		}
		n, dead, ended := min(len(p), s.credit[id], maxFrame), s.dead, s.ended[id]
		s.credit[id] -= n
		s.mu.Unlock()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case dead:
			return errSessionDead
		case ended:
			return io.ErrClosedPipe
		}
		var flags uint16
		if syn {
			flags, syn = flagSYN, false
		}
		if err := s.writeFrames(appendFrame(nil, typeData, flags, id, uint32(n)), p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// waitAcks waits until the server accepted n streams, or until timeout.
func (s *session) waitAcks(n int, timeout time.Duration) int {
	s.waitUntil(func() bool { return s.acks >= n }, timeout)
	acks, _, _, _ := s.counts()
	return acks
}

// waitUntil waits until done (called with s.mu held) reports true, the
// session dies, or timeout passes.
func (s *session) waitUntil(done func() bool, timeout time.Duration) {
	t := time.AfterFunc(timeout, s.wake)
	defer t.Stop()
	end := time.Now().Add(timeout)
	s.mu.Lock()
	defer s.mu.Unlock()
	for !done() && !s.dead && time.Now().Before(end) {
		s.cond.Wait()
	}
}

func (s *session) counts() (acks, closes int, received int64, dead bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acks, s.closes, s.received, s.dead
}

func (s *session) readLoop() {
	defer close(s.done)
	defer func() {
		s.mu.Lock()
		s.dead = true
		s.cond.Broadcast()
		s.mu.Unlock()
	}()
	var h [headerSize]byte
	for {
		if _, err := io.ReadFull(s.c, h[:]); err != nil {
			return
		}
		typ, flags := h[1], binary.BigEndian.Uint16(h[2:])
		id, length := binary.BigEndian.Uint32(h[4:]), binary.BigEndian.Uint32(h[8:])
		switch typ {
		case typeData:
			if _, err := io.CopyN(io.Discard, s.c, int64(length)); err != nil {
				return
			}
			if s.grant && length > 0 {
				_ = s.writeFrames(appendFrame(nil, typeWindow, 0, id, length))
			}
		case typePing:
			if flags&flagSYN != 0 {
				_ = s.writeFrames(appendFrame(nil, typePing, flagACK, 0, length))
			}
			continue
		case typeGoAway:
			return
		}
		s.mu.Lock()
		if typ == typeData {
			s.received += int64(length)
		} else if typ == typeWindow {
			s.credit[id] += int(length)
		}
		if flags&flagACK != 0 {
			s.acks++
		}
		if flags&(flagFIN|flagRST) != 0 && !s.ended[id] {
			s.ended[id] = true
			s.closes++
		}
		s.cond.Broadcast()
		s.mu.Unlock()
	}
}
