package wire

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net"
	"sync"
	"time"

	"github.com/ferryrpc/ferry/internal/msgpack"
)

const (
	// startBuffer is the first buffer of a reader, and again after
	// ReleaseIdle: most messages are small, and a reader that parks soon
	// after a few of them leaves the hole its buffer made in the heap (the
	// buffers of a burst of connections that go idle together are freed
	// among the connections' lasting objects). A read that fills it
	// replaces it with a minBuffer one.
	startBuffer = 1 << 10
	minBuffer   = 4 << 10  // the buffer once a read filled the first one
	keepBuffer  = 64 << 10 // larger buffers are released once drained
)

// errNoBody is ReadBody's answer when it is called wrong.
var errNoBody = errors.New("ferry: ReadBody without a pending body of that length")

// Account is charged for a Reader's buffer (transport.Budget fits).
type Account interface {
	Charge(n int) bool
	Release(n int)
}

// Reader splits a byte stream into whole MessagePack-RPC messages. Memory
// grows only with bytes that actually arrived, never with declared lengths.
type Reader struct {
	r          io.Reader
	lim        Limits
	buf        []byte
	start, end int
	sc         *msgpack.Scanner
	// hint is how many bytes the last large buffer held when it was
	// released: the next buffer that outgrows the first one starts at that
	// size, so that a run of large messages costs one small copy each
	// instead of a geometric regrowth. Zero after a small one.
	hint int

	// Direct bodies (SetDirect): when Next returned a head, hd describes
	// it and pend is set until ReadBody or Whole takes the body. keep is
	// where the head starts in buf while ReadBody reads the rest of its
	// message, -1 otherwise: buffer moves carry it along. declined is
	// set when the current message is not split; waited once a head that
	// came without any of its body waited for one more read.
	direct   int
	hd       Head
	pend     bool
	keep     int
	declined bool
	waited   bool

	acct       Account
	stallAfter time.Duration
	stall      func()
	got        uint64    // bytes read so far
	armedAt    uint64    // got when the stall timer was last armed
	armed      bool      // the stall timer is armed
	stamp      bool      // SetStamp: note when reads return bytes
	readAt     time.Time // when the last read that returned bytes did

	mu      sync.Mutex // guards what Close touches
	charged int        // bytes of buf charged to acct
	timer   *time.Timer
	closed  bool
}

// NewReader returns a Reader over r enforcing lim.
func NewReader(r io.Reader, lim Limits) *Reader {
	return &Reader{r: r, lim: lim, sc: msgpack.NewScanner(lim.MaxMessage, lim.MaxDepth), keep: -1}
}

// SetDirect makes Next return the head of a request or response whose
// payload is one bin of at least min bytes (see ParseHead), once the bin's
// header has arrived and its body has not, instead of the whole message;
// a head that arrived without any of its body is returned after one more
// read, so that Arrived shows how much of the body is coming. The caller
// then reads the body straight into its destination with ReadBody, or
// takes the whole message with Whole. min 0 turns it off.
// Only the goroutine calling Next may call it.
func (r *Reader) SetDirect(min int) { r.direct = min }

// SetStamp makes the Reader note the time of every read that returns
// bytes, for ReadAt: one clock reading per read, however many messages it
// brings. Only the goroutine calling Next may call it.
func (r *Reader) SetStamp(on bool) { r.stamp = on }

// ReadAt returns, with SetStamp, when the read that completed the message
// Next or Whole last returned whole took place: the Reader reads only
// while a message is incomplete, so that is its last read. Zero without
// SetStamp.
func (r *Reader) ReadAt() time.Time { return r.readAt }

// SetLimits changes the limits for the messages after the current one.
// Only the goroutine calling Next may call it.
func (r *Reader) SetLimits(lim Limits) {
	r.lim = lim
	r.sc.SetLimits(lim.MaxMessage, lim.MaxDepth)
}

// Next returns the next whole message, or with SetDirect the head of one
// (then Body is not 0). The slice is valid until the next call. Any error
// other than io.EOF at a message boundary is fatal for the stream;
// io.ErrUnexpectedEOF reports a message cut short. A head whose body
// neither ReadBody nor Whole took is skipped, with the rest of its
// message.
func (r *Reader) Next() ([]byte, error) {
	if r.pend {
		if _, err := r.ReadBody(nil); err != nil {
			return nil, err
		}
	}
	r.keep, r.declined, r.waited = -1, false, false
	if r.start == r.end && len(r.buf) > keepBuffer {
		r.hint = 0
		if r.end > keepBuffer {
			r.hint = r.end
		}
		PutBuffer(r.buf)
		r.buf, r.start, r.end = nil, 0, 0
		_ = r.recharge(0)
	}
	return r.next()
}

// Elements returns where the elements of the message that Next or Whole
// last returned whole begin in it (its first six; ParseScanned uses them).
// It is valid until the next call of the Reader, and only after a whole
// message: after a head it may hold part of that message's.
func (r *Reader) Elements() []int32 { return r.sc.Elements() }

// Items returns how many elements the arrays and maps of the message that
// Next or Whole last returned whole declare (msgpack.Scanner.Items).
func (r *Reader) Items() int { return r.sc.Items() }

// MapItems returns the maps of the message that Next or Whole last
// returned whole plus the entries they declare (msgpack.Scanner.MapItems).
func (r *Reader) MapItems() int { return r.sc.MapItems() }

// Body is the length of the bin body that follows the head Next returned
// last, until ReadBody or Whole takes it; 0 when Next returned a whole
// message.
func (r *Reader) Body() int {
	if !r.pend {
		return 0
	}
	return r.hd.Body
}

// Arrived reports how many bytes of the pending body are already in the
// reader's buffer.
func (r *Reader) Arrived() int {
	if !r.pend {
		return 0
	}
	return r.end - r.start - r.hd.Len
}

// Whole returns the whole message whose head Next returned, as Next
// would have without SetDirect. The head slice is no longer valid.
func (r *Reader) Whole() ([]byte, error) {
	r.pend, r.declined = false, true
	return r.next()
}

// ReadBody reads the body of the head that Next returned into dst, which
// must be Body bytes long, or skips it when dst is nil; then it reads the
// rest of the message and returns it: its extension map, or nothing. The
// rest is bounded like the message: the limit minus what came before it.
// Afterwards Head returns the head (the slice Next returned may have
// moved); both stay valid until the next Next.
func (r *Reader) ReadBody(dst []byte) (rest []byte, err error) {
	rest, _, err = r.ReadBodyWhile(dst, nil)
	return rest, err
}

// ReadBodyWhile is ReadBody that asks keep (when not nil), before each
// read into dst, whether the body still goes there: once keep reports
// false, dst is left alone and the rest of the body is skipped; filled
// reports whether all of it went into dst.
func (r *Reader) ReadBodyWhile(dst []byte, keep func() bool) (rest []byte, filled bool, err error) {
	h := r.hd
	if !r.pend || (dst != nil && len(dst) != h.Body) {
		return nil, false, errNoBody
	}
	filled = dst != nil
	r.pend = false
	got := r.end - r.start - h.Len // of the body, in buf
	copy(dst, r.buf[r.start+h.Len:r.end])
	r.keep, r.end = r.start, r.start+h.Len
	r.start = r.end
	var skip []byte // where a skipped body goes
	if dst == nil && got < h.Body {
		skip = make([]byte, min(h.Body-got, 32<<10))
	}
	for got < h.Body {
		if r.stall != nil {
			r.watch(true)
		}
		if dst != nil && keep != nil && !keep() {
			dst, filled = nil, false
			skip = make([]byte, min(h.Body-got, 32<<10))
		}
		p := skip
		if dst != nil {
			p = dst[got:]
		}
		n, err := r.r.Read(p[:min(len(p), h.Body-got)])
		got += n
		r.got += uint64(n)
		if err != nil && got < h.Body {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, false, err
		}
	}
	r.sc.Reset()
	if !h.HasExt {
		return nil, filled, nil
	}
	// The extension map, scanned as a value of its own: what the message
	// has left of the size limit, one level less deep.
	r.sc.SetLimits(r.lim.MaxMessage-h.Len-h.Body, r.lim.MaxDepth-1)
	defer r.sc.SetLimits(r.lim.MaxMessage, r.lim.MaxDepth)
	for {
		if r.start < r.end {
			n, err := r.sc.Scan(r.buf[r.start:r.end])
			if err != nil {
				return nil, false, err
			}
			if n > 0 {
				rest = r.buf[r.start : r.start+n : r.start+n]
				r.start += n
				r.sc.Reset()
				return rest, filled, nil
			}
		}
		if r.stall != nil {
			r.watch(true)
		}
		if err := r.fill(); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, false, err
		}
	}
}

// Head returns the head whose body ReadBody read, until the next Next.
func (r *Reader) Head() []byte {
	if r.keep < 0 {
		return nil
	}
	return r.buf[r.keep : r.keep+r.hd.Len : r.keep+r.hd.Len]
}

// next reads on until a message is whole, or its head is ready.
func (r *Reader) next() ([]byte, error) {
	for {
		if r.start < r.end {
			if !r.sc.Started() && !msgpack.IsArrayHeader(r.buf[r.start]) {
				return nil, fmt.Errorf("%w: first byte 0x%02x", ErrNotMessage, r.buf[r.start])
			}
			n, err := r.sc.Scan(r.buf[r.start:r.end])
			if err != nil {
				return nil, err
			}
			if n > 0 {
				msg := r.buf[r.start : r.start+n : r.start+n]
				r.start += n
				r.sc.Reset()
				return msg, nil
			}
		}
		// A head that waited qualified before its read: it is handed over
		// however much of the body that read brought (unless it brought
		// all of it), or the wait would take the whole message in a
		// grown buffer where the head alone went direct.
		if r.direct > 0 && !r.declined && (r.waited || r.sc.Pending() >= r.direct) {
			switch {
			case !r.split():
				r.declined = true // once per message
			case r.end-r.start > r.hd.Len || r.waited:
				return r.buf[r.start : r.start+r.hd.Len : r.start+r.hd.Len], nil
			default:
				// A head that came alone (a sender that writes the head and
				// the body separately) waits for one more read, so that the
				// caller sees how much of its body is arriving (Arrived,
				// and what the source holds) before choosing.
				r.pend, r.waited = false, true
			}
		}
		if r.stall != nil {
			r.watch(r.start < r.end || r.sc.Started())
		}
		if err := r.fill(); err != nil {
			if err == io.EOF && (r.start < r.end || r.sc.Started()) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// split reports whether the partial message in buf is a head whose bin
// body is what the scanner waits for, and if so makes it the pending head.
func (r *Reader) split() bool {
	h, ok := ParseHead(r.buf[r.start:r.end])
	if !ok || h.Len+h.Body-(r.end-r.start) != r.sc.Pending() {
		return false
	}
	r.hd, r.pend = h, true
	return true
}

// fill makes room and reads at least one byte. What it moves starts at
// keep, when set, else at start.
func (r *Reader) fill() error {
	if r.end == len(r.buf) {
		lo := r.start
		if r.keep >= 0 {
			lo = r.keep
		}
		used := r.end - lo
		// A first buffer that a read filled grows to minBuffer rather
		// than moving its partial message: more is on its way.
		first := len(r.buf) < minBuffer && len(r.buf) < r.lim.MaxMessage+16
		if lo > 0 && used < len(r.buf)/2 && !first {
			copy(r.buf, r.buf[lo:r.end])
		} else {
			// Grow geometrically with what arrived, never to a declared
			// length: a peer that declares a big payload and sends a few
			// bytes must not make us allocate it. Large buffers come from
			// a shared pool, so growth costs copies, not allocations.
			// The hint is what arrived in the last large buffer: bytes
			// that did arrive, not a declared length.
			size := max(2*len(r.buf), minBuffer)
			if len(r.buf) == 0 {
				size = startBuffer
			}
			if lim := r.lim.MaxMessage + 16; size > lim {
				size = max(lim, used+1)
			}
			if r.hint > size && len(r.buf) > 0 {
				// A power of two: the pooled buffer is what is charged.
				hint := min(1<<bits.Len(uint(r.hint-1)), r.lim.MaxMessage+16)
				if hint > size && r.recharge(hint) == nil {
					size = hint
				}
				r.hint = 0 // once per message: later growth is geometric
			}
			if err := r.recharge(size); err != nil {
				return err
			}
			var nb []byte
			if size > keepBuffer {
				nb = GetBuffer(size)
				nb = nb[:cap(nb)]
			} else {
				nb = make([]byte, size)
			}
			copy(nb, r.buf[lo:r.end])
			if len(r.buf) > keepBuffer {
				PutBuffer(r.buf)
			}
			r.buf = nb
		}
		r.start, r.end = r.start-lo, used
		if r.keep >= 0 {
			r.keep = 0
		}
	}
	room := r.buf[r.end:]
	if p := r.sc.Pending(); p > 0 && p < len(room) && r.end-r.start+p > keepBuffer {
		// Stop at the end of a payload that makes the message large: a
		// message ending with it then leaves the buffer drained instead
		// of a partial next message to move.
		room = room[:p]
	}
	for {
		n, err := r.r.Read(room)
		r.end += n
		r.got += uint64(n)
		if n > 0 {
			if r.stamp {
				r.readAt = time.Now()
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// SetAccount charges a for the reader's buffer from now on. Only the
// goroutine calling Next may call it, before the first Next.
func (r *Reader) SetAccount(a Account) { r.acct = a }

// SetStall makes the reader call stall (in another goroutine) when the
// peer holds part of a message for d without sending more of it; stall
// should break the stream so that Next returns. Only the goroutine calling
// Next may call it, before the first Next.
func (r *Reader) SetStall(d time.Duration, stall func()) {
	r.stallAfter, r.stall = d, stall
}

// watch arms the stall timer while a message is partial and disarms it
// at message boundaries. Only bytes that arrived re-arm it: a Next called
// again after a read error (a deadline) gives the peer no extra time.
func (r *Reader) watch(partial bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
	case partial && r.armed && r.got == r.armedAt:
	case partial && r.timer == nil:
		r.timer = time.AfterFunc(r.stallAfter, r.stall)
	case partial:
		r.timer.Reset(r.stallAfter)
	case r.timer != nil:
		r.timer.Stop()
	}
	r.armed, r.armedAt = partial && !r.closed, r.got
}

// Idle reports whether the reader holds no byte of a message (nor a head
// whose body is pending): the next Next waits for a new message. Only the
// goroutine calling Next may call it.
func (r *Reader) Idle() bool { return r.start == r.end && !r.sc.Started() && !r.pend }

// ReleaseIdle drops the buffer, its charge and the stall timer, when the
// reader holds no byte of a message, and reports whether it did: a reader about to wait
// long for the next message keeps nothing (the next read allocates a
// small buffer again). Only the goroutine calling Next may call it.
func (r *Reader) ReleaseIdle() bool {
	if !r.Idle() {
		return false
	}
	if len(r.buf) > keepBuffer {
		PutBuffer(r.buf)
	}
	r.buf, r.start, r.end = nil, 0, 0
	_ = r.recharge(0)
	r.mu.Lock()
	if r.timer != nil && !r.armed {
		r.timer.Stop()
		r.timer = nil // nor the stall timer: the next partial message makes one
	}
	r.mu.Unlock()
	return true
}

// recharge makes the buffer's charge size bytes, unless that would pass
// the account's budget or the reader is closed.
func (r *Reader) recharge(size int) error {
	if r.acct == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return net.ErrClosed
	case size > r.charged && !r.acct.Charge(size-r.charged):
		return ErrBudget
	case size < r.charged:
		r.acct.Release(r.charged - size)
	}
	r.charged = size
	return nil
}

// Close stops the stall timer and gives back what the buffer's charge.
// It may be called from any goroutine, while Next runs too; Next fails
// once it needs more memory afterwards.
func (r *Reader) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.timer != nil {
		r.timer.Stop()
	}
	if r.acct != nil {
		r.acct.Release(r.charged)
		r.charged = 0
	}
}
