package transport

import (
	"net"
	"sync"
	"time"
)

// coalescer sits under yamux and joins each data frame's header to its
// body: yamux's send loop writes a frame's 12-byte header and its body
// separately, waiting for each write, which costs two system calls (and
// two segments) per frame. The coalescer holds a data frame's header back
// and writes it with the body that follows: copied into one buffer for a
// small body, in two writes for a large one, where a copy would cost more
// than the system call. Other frames (window updates, pings, go-away) go
// straight through.
//
// It writes in the caller's goroutine, yamux's send loop, and keeps
// nothing pending: when yamux's Write returns, the frame is in the
// kernel. An earlier coalescer handed the bytes to a goroutine of its own
// that batched the frames of every stream; that goroutine was one more
// hand-off per message each way, and batching is the call engine's work
// (one frame carries every message queued while the previous one was
// written). CHANGELOG.md has what the change measured.
//
// Only one goroutine may call Write (yamux's send loop does); Close may
// be called from any goroutine, at any time.
type coalescer struct {
	net.Conn
	timeout time.Duration
	onClose func() // called when the connection breaks or closes, before it does

	// Write's state.
	hdr   [frameHeader]byte
	held  bool      // hdr is a data frame's header waiting for its body
	armed time.Time // the write deadline last set

	mu  sync.Mutex
	err error // the first write error, or net.ErrClosed once closed
}

const (
	frameHeader  = 12       // yamux's frame header
	coalesceCopy = 16 << 10 // bodies up to this size are copied after their header
)

// joined holds a header and a small body while they are written: pooled,
// so that an idle connection keeps no buffer.
var joined = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// newCoalescer returns c with each data frame's header written with its
// body; every write has a deadline of timeout (a peer that stops reading
// breaks the session).
func newCoalescer(c net.Conn, timeout time.Duration) *coalescer {
	return &coalescer{Conn: c, timeout: timeout}
}

// Write writes p, or holds it back when it is the header of a data frame
// with a body; it returns the first write error of the connection.
func (co *coalescer) Write(p []byte) (int, error) {
	if err := co.failed(); err != nil {
		return 0, err
	}
	if !co.held && len(p) == frameHeader && p[0] == 0 && p[1] == 0 && (p[8]|p[9]|p[10]|p[11]) != 0 {
		copy(co.hdr[:], p) // version 0, type data, a body follows
		co.held = true
		return len(p), nil
	}
	co.setDeadline()
	var err error
	switch {
	case !co.held:
		_, err = co.Conn.Write(p)
	case len(p) <= coalesceCopy:
		bp := joined.Get().(*[]byte)
		if n := frameHeader + len(p); cap(*bp) < n {
			// Grown here, not by append, whose rounding could pass the
			// limit and lose the buffer to the pool for good.
			*bp = make([]byte, 0, min(max(n, 2*cap(*bp)), coalesceCopy+frameHeader))
		}
		b := append(append((*bp)[:0], co.hdr[:]...), p...)
		_, err = co.Conn.Write(b)
		joined.Put(bp)
	default:
		if _, err = co.Conn.Write(co.hdr[:]); err == nil {
			_, err = co.Conn.Write(p)
		}
	}
	co.held = false
	if err != nil {
		co.fail(err)
		return 0, err
	}
	return len(p), nil
}

// setDeadline keeps the connection's write deadline between 7/8 of the
// timeout and the timeout ahead, so that most writes set none.
func (co *coalescer) setDeadline() {
	if co.timeout <= 0 {
		return
	}
	now := time.Now()
	if co.armed.Sub(now) >= co.timeout-co.timeout/8 {
		return
	}
	co.armed = now.Add(co.timeout)
	_ = co.Conn.SetWriteDeadline(co.armed)
}

// failed returns the first write error, or net.ErrClosed once closed.
func (co *coalescer) failed() error {
	co.mu.Lock()
	defer co.mu.Unlock()
	return co.err
}

// fail handles a failed write: the first one ends the session, then
// breaks the connection, so that yamux's reader fails too, before the
// error reaches yamux (once yamux learns of it, it closes the session and
// its stream readers spin until they are woken).
func (co *coalescer) fail(err error) {
	co.mu.Lock()
	first := co.err == nil
	if first {
		co.err = err
	}
	co.mu.Unlock()
	if first {
		if co.onClose != nil {
			co.onClose()
		}
		co.Conn.Close()
	}
}

// Close tells the session, then closes the connection, which cuts short
// a write in flight; later writes fail with net.ErrClosed. A header still
// waiting for its body is never sent.
func (co *coalescer) Close() error {
	if co.onClose != nil {
		co.onClose()
	}
	err := co.Conn.Close()
	co.mu.Lock()
	defer co.mu.Unlock()
	if co.err != nil {
		return nil // closed already, or broken by a failed write
	}
	co.err = net.ErrClosed
	return err
}
