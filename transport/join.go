package transport

import (
	"net"
	"sync"
	"time"
)

// joiner sits under yamux on the dialing side of a session and joins
// each data frame's header to its body: yamux's send loop writes a
// frame's 12-byte header and its body separately, waiting for each write,
// which costs two system calls (and two segments) per frame. The joiner
// holds a data frame's header back and writes it with the body that
// follows: copied into one buffer for a small body, in two writes for a
// large one, where a copy would cost more than the system call. Other
// frames (window updates, pings, go-away) go straight through.
//
// It writes in the caller's goroutine, yamux's send loop, and keeps
// nothing pending: when yamux's Write returns, the frame is in the
// kernel. The accepting side batches instead (coalescer), in a goroutine
// of its own: that goroutine is one more hand-off per message, which a
// client's latency pays on every call, while a server with many streams
// and peers gains from batching their frames into fewer system calls
// and from a send loop that does not wait for the kernel (a quiet server
// session writes as the joiner does: coalesce.go). With the
// joiner on both sides, a server under TestAttackNoWindowStreams (eight
// sessions of hundreds of streams that are never read) spent 16-21 s of
// CPU instead of 12, and fresh clients' first calls took over 2 s (still
// so when its stream writers yielded to batch, at 12-14 s of CPU);
// CHANGELOG.md has the figures.
//
// Only one goroutine may call Write (yamux's send loop does); Close may
// be called from any goroutine, at any time.
type joiner struct {
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
	frameHeader = 12       // yamux's frame header
	joinCopy    = 16 << 10 // bodies up to this size are copied after their header
)

// joined holds a header and a small body while they are written: pooled,
// so that an idle connection keeps no buffer.
var joined = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// join returns a pooled buffer holding hdr and then body (together at
// most frameHeader+joinCopy bytes), and the joined bytes; the caller puts
// the buffer back in joined once it has written them.
func join(hdr, body []byte) (*[]byte, []byte) {
	bp := joined.Get().(*[]byte)
	if n := len(hdr) + len(body); cap(*bp) < n {
		// Grown here, not by append, whose rounding could pass the limit
		// and lose the buffer to the pool for good.
		*bp = make([]byte, 0, min(max(n, 2*cap(*bp)), joinCopy+frameHeader))
	}
	return bp, append(append((*bp)[:0], hdr...), body...)
}

// dataHeader reports whether p is the header of a yamux data frame with a
// body (version 0, type data, a non-zero length): yamux's send loop
// writes that body next.
func dataHeader(p []byte) bool {
	return len(p) == frameHeader && p[0] == 0 && p[1] == 0 && (p[8]|p[9]|p[10]|p[11]) != 0
}

// newJoiner returns c with each data frame's header written with its
// body; every write has a deadline of timeout (a peer that stops reading
// breaks the session).
func newJoiner(c net.Conn, timeout time.Duration) *joiner {
	return &joiner{Conn: c, timeout: timeout}
}

// Write writes p, or holds it back when it is the header of a data frame
// with a body; it returns the first write error of the connection.
func (j *joiner) Write(p []byte) (int, error) {
	if err := j.failed(); err != nil {
		return 0, err
	}
	if !j.held && dataHeader(p) {
		copy(j.hdr[:], p)
		j.held = true
		return len(p), nil
	}
	j.setDeadline()
	var err error
	switch {
	case !j.held:
		_, err = j.Conn.Write(p)
	case len(p) <= joinCopy:
		bp, b := join(j.hdr[:], p)
		_, err = j.Conn.Write(b)
		joined.Put(bp)
	default:
		if _, err = j.Conn.Write(j.hdr[:]); err == nil {
			_, err = j.Conn.Write(p)
		}
	}
	j.held = false
	if err != nil {
		j.fail(err)
		return 0, err
	}
	return len(p), nil
}

// setDeadline keeps the connection's write deadline between 7/8 of the
// timeout and the timeout ahead, so that most writes set none.
func (j *joiner) setDeadline() {
	if j.timeout <= 0 {
		return
	}
	now := time.Now()
	if j.armed.Sub(now) >= j.timeout-j.timeout/8 {
		return
	}
	j.armed = now.Add(j.timeout)
	_ = j.Conn.SetWriteDeadline(j.armed)
}

// failed returns the first write error, or net.ErrClosed once closed.
func (j *joiner) failed() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

// fail handles a failed write: the first one ends the session, then
// breaks the connection, so that yamux's reader fails too, before the
// error reaches yamux (once yamux learns of it, it closes the session and
// its stream readers spin until they are woken).
func (j *joiner) fail(err error) {
	j.mu.Lock()
	first := j.err == nil
	if first {
		j.err = err
	}
	j.mu.Unlock()
	if first {
		if j.onClose != nil {
			j.onClose()
		}
		j.Conn.Close()
	}
}

// Close tells the session, then closes the connection, which cuts short
// a write in flight; later writes fail with net.ErrClosed. A header still
// waiting for its body is never sent.
func (j *joiner) Close() error {
	if j.onClose != nil {
		j.onClose()
	}
	err := j.Conn.Close()
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return nil // closed already, or broken by a failed write
	}
	j.err = net.ErrClosed
	return err
}
