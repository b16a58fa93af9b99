package stream

import (
	"net"
	"sync/atomic"
)

// Counter counts the bytes read from and written to a stream, frames
// included: what stream interceptors report as a stream's size
// (ferry.WireCounter).
type Counter struct {
	net.Conn
	sent, received atomic.Int64
}

// Read reads from the stream, counting.
func (c *Counter) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.received.Add(int64(n))
	return n, err
}

// Write writes to the stream, counting. The bytes count from the moment
// they are handed over: a session stream's Write returns only after its
// sender has written them, so the peer may have them, and have answered,
// before it returns (less is counted back if less was written).
func (c *Counter) Write(b []byte) (int, error) {
	c.sent.Add(int64(len(b)))
	n, err := c.Conn.Write(b)
	if n < len(b) {
		c.sent.Add(int64(n - len(b)))
	}
	return n, err
}

// WireBytes returns the bytes written and read so far.
func (c *Counter) WireBytes() (sent, received int64) { return c.sent.Load(), c.received.Load() }

// NewCounter counts the bytes through c, of which read were already read
// (the marker byte a serving side reads before the stream is a Conn).
func NewCounter(c net.Conn, read int64) *Counter {
	cnt := &Counter{Conn: c}
	cnt.received.Store(read)
	return cnt
}
