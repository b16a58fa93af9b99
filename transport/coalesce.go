package transport

import (
	"net"
	"time"

	"github.com/ferryrpc/ferry/internal/flush"
)

// coalescer sits under yamux on the accepting side of a session (the
// dialing side has the joiner) and batches its writes: yamux writes every
// frame header and body separately, from one goroutine, and waits for each
// write. The coalescer appends them to a buffer and returns at once; a
// flusher goroutine, after yielding once so that more frames can join,
// writes everything pending in one system call (internal/flush). Frames
// from every stream of the session share the batches. Large bodies skip
// the buffer (after the pending bytes are written, to keep the order). The
// flusher is started on demand and exits after a quarter of a second of
// idleness, so idle sessions cost no goroutine (and, after a burst, the
// memory of its goroutine serves sessions still busy).
type coalescer struct {
	net.Conn
	w       flush.Writer
	onClose func() // called when the connection breaks or closes, before it does
}

const (
	coalesceDirect = 64 << 10 // writes this large skip the buffer
	coalesceMax    = 1 << 20  // writers wait while this much is pending
	coalesceIdle   = 250 * time.Millisecond
)

// newCoalescer returns c with its writes batched; every write has a
// deadline of timeout (a peer that stops reading breaks the session), and
// so has the final flush of Close.
func newCoalescer(c net.Conn, timeout time.Duration) *coalescer {
	co := &coalescer{Conn: c}
	co.w.Init(c, flush.Config{
		HighWater: coalesceMax,
		KeepSpare: 4 * coalesceDirect,
		Direct:    coalesceDirect,
		Idle:      coalesceIdle,
		Yield:     true,
		Timeout:   timeout,
		Final:     timeout,
		OnError:   co.broken,
	})
	return co
}

// Write queues p; it returns the first write error of the connection.
func (co *coalescer) Write(p []byte) (int, error) { return co.w.Write(p) }

// broken handles the first failed write: it ends the session and breaks
// the connection, so that yamux's reader fails too. It runs before yamux
// can learn of the failure (the batcher returns the error to no write
// until broken returns): once yamux does, it closes the session and its
// stream readers spin until they are woken. The session's end takes no
// lock that a coalescer caller holds.
func (co *coalescer) broken(error) {
	if co.onClose != nil {
		co.onClose()
	}
	co.Conn.Close()
}

// Close writes what is pending (within the write timeout), stops the
// flusher and closes the connection.
func (co *coalescer) Close() error {
	if co.onClose != nil {
		co.onClose()
	}
	return co.w.Close()
}
