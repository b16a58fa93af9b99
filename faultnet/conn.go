package faultnet

import (
	"errors"
	"net"
	"os"
	"sync"
	"time"
)

// conn is a net.Conn with f's faults applied.
type conn struct {
	net.Conn
	f      *Faults
	rd, wd *deadline
	closed chan struct{}
	once   sync.Once

	hmu     sync.Mutex
	held    []byte // received, not yet delivered (a stall began)
	heldErr error  // the peer's end of stream or reset, reported in order
}

func newConn(f *Faults, c net.Conn) *conn {
	return &conn{Conn: c, f: f, rd: newDeadline(), wd: newDeadline(), closed: make(chan struct{})}
}

// NetConn returns the wrapped connection, as tls.Conn's NetConn does.
func (c *conn) NetConn() net.Conn { return c.Conn }

// Read delivers received bytes unless In is stalled or dropped, after the
// In latency and bandwidth waits.
func (c *conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		v, err := c.await(In, c.rd, c.readBlocked)
		if err != nil {
			return 0, err
		}
		if n, ok, err := c.takeHeld(p, v.dropped); ok {
			return n, err
		}
		n, err := c.Conn.Read(p[:c.f.chunk(In, len(p))])
		if err != nil && c.local(err) {
			return n, err
		}
		switch v := c.f.view(In); {
		case v.dropped:
			c.hold(nil, err) // the bytes vanish; an error waits for Heal
			continue
		case v.stalled:
			c.hold(p[:n], err)
			continue
		case n > 0:
			if werr := c.sleep(v.latency+c.f.reserve(In, n), c.rd); werr != nil {
				c.hold(p[:n], err)
				return 0, werr
			}
		}
		return n, err
	}
}

// readBlocked reports whether a read must wait: In is stalled, or dropped
// while the peer's end of stream waits to be reported.
func (c *conn) readBlocked(v view) bool {
	if v.stalled {
		return true
	}
	if !v.dropped {
		return false
	}
	c.hmu.Lock()
	defer c.hmu.Unlock()
	return c.heldErr != nil
}

// takeHeld delivers bytes or an error held back by a stall. Held bytes are
// discarded while In is dropped.
func (c *conn) takeHeld(p []byte, dropped bool) (int, bool, error) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	if dropped {
		c.held = nil
	}
	if len(c.held) > 0 {
		n := copy(p, c.held)
		if c.held = c.held[n:]; len(c.held) == 0 {
			c.held = nil
		}
		return n, true, nil
	}
	if c.heldErr != nil {
		return 0, true, c.heldErr
	}
	return 0, false, nil
}

func (c *conn) hold(b []byte, err error) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.held = append(c.held, b...)
	if err != nil && c.heldErr == nil {
		c.heldErr = err
	}
}

// local reports whether err comes from this side (a deadline or Close)
// rather than from the peer, so faults must not hold it back.
func (c *conn) local(err error) bool {
	return closed(c.closed) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed)
}

// Write sends p unless Out is stalled (it waits) or dropped (p vanishes),
// after the Out latency, in chunks paced by the Out bandwidth limit.
func (c *conn) Write(p []byte) (int, error) {
	if closed(c.closed) {
		return 0, net.ErrClosed
	}
	delayed := false
	n := 0
	for {
		v, err := c.await(Out, c.wd, func(v view) bool { return v.stalled })
		if err != nil {
			return n, err
		}
		if v.dropped {
			return len(p), nil
		}
		if !delayed {
			delayed = true
			if v.latency > 0 {
				if err := c.sleep(v.latency, c.wd); err != nil {
					return n, err
				}
				continue // the faults may have changed meanwhile
			}
		}
		size := c.f.chunk(Out, len(p)-n)
		if err := c.sleep(c.f.reserve(Out, size), c.wd); err != nil {
			return n, err
		}
		m, err := c.Conn.Write(p[n : n+size])
		n += m
		if err != nil || n == len(p) {
			return n, err
		}
	}
}

// await waits while blocked holds for dir's faults, until they change, the
// deadline passes or c is closed.
func (c *conn) await(dir Dir, dl *deadline, blocked func(view) bool) (view, error) {
	for {
		v := c.f.view(dir)
		if !blocked(v) {
			return v, nil
		}
		select {
		case <-v.changed:
		case <-dl.done():
			return v, os.ErrDeadlineExceeded
		case <-c.closed:
			return v, net.ErrClosed
		}
	}
}

// sleep waits for d, unless the deadline passes or c is closed first.
func (c *conn) sleep(d time.Duration, dl *deadline) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-dl.done():
		return os.ErrDeadlineExceeded
	case <-c.closed:
		return net.ErrClosed
	}
}

// Close closes the connection; reads and writes waiting in a fault return
// at once.
func (c *conn) Close() error {
	err := net.ErrClosed
	c.once.Do(func() {
		close(c.closed)
		c.f.forget(c)
		err = c.Conn.Close()
	})
	return err
}

// SetDeadline sets both deadlines; they bound waits in faults too.
func (c *conn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return c.Conn.SetDeadline(t)
}

// SetReadDeadline sets the read deadline; it bounds waits in faults too.
func (c *conn) SetReadDeadline(t time.Time) error {
	c.rd.set(t)
	return c.Conn.SetReadDeadline(t)
}

// SetWriteDeadline sets the write deadline; it bounds waits in faults too.
func (c *conn) SetWriteDeadline(t time.Time) error {
	c.wd.set(t)
	return c.Conn.SetWriteDeadline(t)
}

// setLingerZero makes the next Close of a TCP connection send a reset.
func (c *conn) setLingerZero() {
	nc := c.Conn
	for {
		switch x := nc.(type) {
		case *net.TCPConn:
			_ = x.SetLinger(0)
			return
		case interface{ NetConn() net.Conn }:
			nc = x.NetConn()
		default:
			return
		}
	}
}
