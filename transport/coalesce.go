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
//
// A frame that comes to a quiet session (few streams, as quiet reports,
// and at least quietGap after the previous frame) while nothing is
// pending or being written is written as the joiner writes: in yamux's
// send loop, a data frame's header joined to its body, with no hand-off
// to the flusher, which a lone caller's every call would wait for.
// Everything else is batched as above: a server writing each frame of
// hundreds of streams in its send loop spent far more CPU under
// TestAttackNoWindowStreams (CHANGELOG.md).
type coalescer struct {
	net.Conn
	w       flush.Writer
	onClose func()      // called when the connection breaks or closes, before it does
	quiet   func() bool // nil: always batch

	// Write's state (yamux's send loop is the only caller).
	hdr   [frameHeader]byte
	held  bool             // hdr is a data frame's header waiting for its body
	last  time.Time        // when the previous frame came
	clock func() time.Time // time.Now; tests set their own
}

const (
	coalesceDirect = 64 << 10 // writes this large skip the buffer
	coalesceMax    = 1 << 20  // writers wait while this much is pending
	coalesceIdle   = 250 * time.Millisecond
	// quietGap is how long after the previous frame one must come to be
	// written at once: frames closer together come from a busy session,
	// whose frames gain from batching (a pipelining stream lost 5-15 %
	// of its messages per second when each was written at once), while a
	// lone caller's replies come a round trip apart, 20 µs or more here.
	quietGap = 10 * time.Microsecond
)

// newCoalescer returns c with its writes batched; every write has a
// deadline of timeout (a peer that stops reading breaks the session), and
// so has the final flush of Close.
func newCoalescer(c net.Conn, timeout time.Duration) *coalescer {
	co := &coalescer{Conn: c, clock: time.Now}
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

// Write writes p, or queues it; it returns the first write error of the
// connection.
func (co *coalescer) Write(p []byte) (int, error) {
	switch {
	case co.quiet == nil:
		return co.w.Write(p)
	case co.held:
		co.held = false
		return co.frame(co.hdr[:], p)
	case dataHeader(p):
		copy(co.hdr[:], p) // written with its body, next
		co.held = true
		return len(p), nil
	}
	return co.frame(p, nil)
}

// frame writes a frame's header and body (nil for a frame without one)
// at once when the session is quiet (few streams, and quietGap since the
// previous frame) and the writer idle; otherwise it queues them. It
// returns the length of what yamux wrote last: body, or hdr when there is
// no body.
func (co *coalescer) frame(hdr, body []byte) (int, error) {
	now := co.clock()
	gap := now.Sub(co.last)
	co.last = now
	if gap >= quietGap && co.quiet() {
		var ok bool
		var err error
		if len(body) <= joinCopy {
			bp, b := join(hdr, body)
			_, ok, err = co.w.TryWrite(b, nil)
			joined.Put(bp)
		} else {
			_, ok, err = co.w.TryWrite(hdr, body)
		}
		switch {
		case !ok: // queued below
		case err != nil:
			return 0, err
		case body == nil:
			return len(hdr), nil
		default:
			return len(body), nil
		}
	}
	if body == nil {
		return co.w.Write(hdr)
	}
	if _, err := co.w.Write(hdr); err != nil {
		return 0, err
	}
	return co.w.Write(body)
}

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
