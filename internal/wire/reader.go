package wire

import (
	"fmt"
	"io"
)

const (
	minBuffer  = 4 << 10  // what an idle connection holds
	keepBuffer = 64 << 10 // larger buffers are released once drained
)

// Reader splits a byte stream into whole MessagePack-RPC messages. Memory
// grows only with bytes that actually arrived, never with declared lengths.
type Reader struct {
	r          io.Reader
	lim        Limits
	buf        []byte
	start, end int
	sc         *Scanner
}

// NewReader returns a Reader over r enforcing lim.
func NewReader(r io.Reader, lim Limits) *Reader {
	return &Reader{r: r, lim: lim, sc: NewScanner(lim)}
}

// SetLimits changes the limits for the messages after the current one.
// Only the goroutine calling Next may call it.
func (r *Reader) SetLimits(lim Limits) {
	r.lim = lim
	r.sc.lim = lim
}

// Next returns the next whole message. The slice is valid until the next
// call. Any error other than io.EOF at a message boundary is fatal for the
// stream; io.ErrUnexpectedEOF reports a message cut short.
func (r *Reader) Next() ([]byte, error) {
	if r.start == r.end && len(r.buf) > keepBuffer {
		PutBuffer(r.buf)
		r.buf, r.start, r.end = nil, 0, 0
	}
	for {
		if r.start < r.end {
			if r.sc.off == 0 && !IsArrayHeader(r.buf[r.start]) {
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
		if err := r.fill(); err != nil {
			if err == io.EOF && (r.start < r.end || r.sc.off > 0) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// fill makes room and reads at least one byte.
func (r *Reader) fill() error {
	if r.end == len(r.buf) {
		used := r.end - r.start
		if r.start > 0 && used < len(r.buf)/2 {
			copy(r.buf, r.buf[r.start:r.end])
		} else {
			// Grow geometrically with what arrived, never to a declared
			// length: a peer that declares a big payload and sends a few
			// bytes must not make us allocate it. Large buffers come from
			// a shared pool, so growth costs copies, not allocations.
			size := max(2*len(r.buf), minBuffer)
			if lim := r.lim.MaxMessage + 16; size > lim {
				size = max(lim, used+1)
			}
			var nb []byte
			if size > keepBuffer {
				nb = GetBuffer(size)
				nb = nb[:cap(nb)]
			} else {
				nb = make([]byte, size)
			}
			copy(nb, r.buf[r.start:r.end])
			if len(r.buf) > keepBuffer {
				PutBuffer(r.buf)
			}
			r.buf = nb
		}
		r.start, r.end = 0, used
	}
	for {
		n, err := r.r.Read(r.buf[r.end:])
		r.end += n
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
