package msgpack

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// MaxDepth is the deepest nesting of arrays and maps a value may have
// unless a caller sets another bound.
const MaxDepth = 64

// Errors returned for malformed or hostile input.
var (
	ErrTooLarge  = errors.New("ferry: message exceeds the size limit")
	ErrTooDeep   = errors.New("ferry: message nests deeper than the limit")
	ErrMalformed = errors.New("ferry: malformed msgpack")
)

// Scanner finds the end of one msgpack value in a buffer that may still be
// growing. It is resumable: call Scan again with the same buffer extended by
// newly arrived bytes, and it continues where it stopped. Its state is a
// fixed-size stack of outstanding item counts, bounded by MaxDepth.
type Scanner struct {
	maxSize  int      // bytes a value may take
	maxDepth int      // nesting a value may reach
	off      int      // bytes of the value accepted so far
	skip     uint64   // payload bytes still to pass over
	stack    []uint64 // items outstanding in each open container
	// tops holds where the first elements of the top-level container
	// begin, from the value's start (ntop of them): Elements. They are
	// kept through Reset, until the next value begins.
	tops [maxTops]int32
	ntop uint8
	// items counts the elements the value's arrays and maps declare (a
	// map's keys and values both): Items. maps counts its maps and their
	// entries (one for each map, one for each key and value pair):
	// MapItems.
	items uint64
	maps  uint64
}

// maxTops is how many top-level elements a Scanner locates: enough for
// every MessagePack-RPC message (at most five elements with Ferry's
// extensions).
const maxTops = 6

// NewScanner returns a Scanner that refuses values longer than maxSize
// bytes or nested deeper than maxDepth.
func NewScanner(maxSize, maxDepth int) *Scanner {
	return &Scanner{maxSize: maxSize, maxDepth: maxDepth, stack: make([]uint64, 0, 8)}
}

// SetLimits changes the bounds for the values after the current one.
func (s *Scanner) SetLimits(maxSize, maxDepth int) {
	s.maxSize, s.maxDepth = maxSize, maxDepth
}

// Depth is the number of containers open in the value being scanned.
func (s *Scanner) Depth() int { return len(s.stack) }

// Started reports whether part of a value has been accepted since the last
// Reset.
func (s *Scanner) Started() bool { return s.off > 0 }

// Pending is how many payload bytes (of a str, bin or ext) the value
// still needs at least before the scanner can go on: after a Scan that
// returned 0, the value cannot end sooner.
func (s *Scanner) Pending() int { return int(min(s.skip, uint64(s.maxSize))) }

// Reset prepares the scanner for a new value.
func (s *Scanner) Reset() {
	s.off, s.skip, s.stack = 0, 0, s.stack[:0]
}

// Elements returns where the elements of the top-level array (or the keys
// and values of a top-level map) begin, as offsets from the value's start:
// the first six of them. Once Scan has reported a value whole, they are
// that value's until the next value begins (Reset keeps them); a value
// past 2 GiB records none past that offset. A caller splitting a message
// uses them instead of walking it again.
func (s *Scanner) Elements() []int32 { return s.tops[:s.ntop] }

// Items returns how many elements the arrays and maps of the value
// declare, a map's keys and values both, so far: once Scan has reported
// a value whole, that value's, until the next value begins. Each is at
// least one byte of the value, and what some types decode each of them
// into (a map, a boxed value) weighs far more than a byte.
func (s *Scanner) Items() int { return int(min(s.items, uint64(s.maxSize))) }

// MapItems returns, as Items does, how many maps the value holds plus
// how many entries they declare (a key and its value count once): what
// decoding into a type that holds maps but no interfaces may allocate
// besides the bytes themselves.
func (s *Scanner) MapItems() int { return int(min(s.maps, uint64(s.maxSize))) }

// Scan reports the length of the value that starts at buf[0] once it is
// complete, or 0 while more bytes are needed.
func (s *Scanner) Scan(buf []byte) (int, error) {
	if s.off == 0 {
		s.ntop, s.items, s.maps = 0, 0, 0 // a new value: the last one's elements are forgotten
	}
	for {
		if s.skip > 0 {
			avail := uint64(len(buf) - s.off)
			if avail < s.skip {
				s.off += int(avail)
				s.skip -= avail
				return 0, nil
			}
			s.off += int(s.skip)
			s.skip = 0
			if s.closeDone() {
				return s.off, nil
			}
			continue
		}
		if len(s.stack) > 1 {
			if n, done := s.scanScalars(buf); done {
				return n, nil
			}
		}
		if s.off >= len(buf) {
			return 0, nil
		}
		var h token
		if c := buf[s.off]; c <= 0xbf || c >= 0xe0 {
			h = fixHeader(c)
		} else {
			var ok bool
			var err error
			if h, ok, err = header(buf[s.off:]); err != nil {
				return 0, err
			} else if !ok {
				return 0, nil
			}
		}
		if len(s.stack) == 1 && s.ntop < maxTops && s.off <= math.MaxInt32 {
			s.tops[s.ntop] = int32(s.off)
			s.ntop++
		}
		s.off += h.size
		budget := uint64(s.maxSize - s.off)
		if s.off > s.maxSize || h.payload > budget || h.items > budget {
			return 0, ErrTooLarge
		}
		if n := len(s.stack); n > 0 {
			s.stack[n-1]--
		}
		if h.isMap {
			s.maps += 1 + h.items/2
		}
		switch {
		case h.items > 0:
			if len(s.stack) >= s.maxDepth {
				return 0, ErrTooDeep
			}
			s.items += h.items
			s.stack = append(s.stack, h.items)
		case h.payload > uint64(len(buf)-s.off):
			s.skip = h.payload // the loop's first step passes over what has come
		default:
			s.off += int(h.payload)
			if s.closeDone() {
				return s.off, nil
			}
		}
	}
}

// scanScalars is Scan's inner loop for the common case, kept in locals:
// below the top level (where Elements are recorded), it passes over the
// scalars and strings whose headers and payloads lie whole in buf and
// within the size limit, and stops at anything else (a container, a bin
// or ext, a payload that runs past buf or the limit) for Scan's general
// step, having stored its progress. It reports the value's length when
// a scalar it passed over closed the value. s.skip is 0 and the stack
// holds more than one container.
func (s *Scanner) scanScalars(buf []byte) (int, bool) {
	off, st := s.off, s.stack
	n := len(st)
	limit := min(len(buf), s.maxSize)
loop:
	for n > 1 && off < limit {
		c := buf[off]
		end := off + 1
		switch {
		case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		case c >= 0xa0 && c <= 0xbf: // fixstr
			end += int(c & 0x1f)
		case c == 0xd9: // str8
			if end >= limit {
				break loop // its length byte is not here: the general step
			}
			end += 1 + int(buf[end])
		case c == 0xcc || c == 0xd0:
			end++
		case c == 0xcd || c == 0xd1:
			end += 2
		case c == 0xca || c == 0xce || c == 0xd2:
			end += 4
		case c == 0xcb || c == 0xcf || c == 0xd3:
			end += 8
		default:
			break loop // a container, bin or ext: the general step
		}
		if end > limit {
			break
		}
		off = end
		st[n-1]--
		for n > 0 && st[n-1] == 0 {
			n--
		}
		st = st[:n]
	}
	s.off, s.stack = off, st
	return off, len(st) == 0
}

// closeDone pops finished containers and reports whether the value is whole.
func (s *Scanner) closeDone() bool {
	for n := len(s.stack); n > 0 && s.stack[n-1] == 0; n-- {
		s.stack = s.stack[:n-1]
	}
	return len(s.stack) == 0
}

// token describes one msgpack header: its own size, the payload bytes that
// follow it, and how many nested values follow it (arrays n, maps 2n).
type token struct {
	size    int
	payload uint64
	items   uint64
	isMap   bool
}

// fixHeader is header for the one-byte headers up to 0xbf and from 0xe0:
// fixint, fixmap, fixarray, fixstr.
func fixHeader(c byte) token {
	switch {
	case c <= 0x7f || c >= 0xe0:
		return token{size: 1}
	case c <= 0x8f:
		return token{size: 1, items: 2 * uint64(c&0x0f), isMap: true}
	case c <= 0x9f:
		return token{size: 1, items: uint64(c & 0x0f)}
	}
	return token{size: 1, payload: uint64(c & 0x1f)}
}

// header decodes the header at b[0]. ok is false when b is too short to
// hold it. It is a table of msgpack's first bytes (66 lines), one case per
// family, the only place header sizes are written down.
func header(b []byte) (t token, ok bool, err error) {
	c := b[0]
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		return token{size: 1}, true, nil
	case c <= 0x8f:
		return token{size: 1, items: 2 * uint64(c&0x0f), isMap: true}, true, nil
	case c <= 0x9f:
		return token{size: 1, items: uint64(c & 0x0f)}, true, nil
	case c <= 0xbf:
		return token{size: 1, payload: uint64(c & 0x1f)}, true, nil
	}
	var lenSize, fixed int
	var items uint64 // multiplier: 0 → payload, 1 → array, 2 → map
	switch c {
	case 0xc4, 0xd9: // bin8, str8
		lenSize = 1
	case 0xc5, 0xda:
		lenSize = 2
	case 0xc6, 0xdb:
		lenSize = 4
	case 0xc7: // ext8: len, type
		lenSize, fixed = 1, 1
	case 0xc8:
		lenSize, fixed = 2, 1
	case 0xc9:
		lenSize, fixed = 4, 1
	case 0xca, 0xce, 0xd2:
		return token{size: 5}, len(b) >= 5, nil
	case 0xcb, 0xcf, 0xd3:
		return token{size: 9}, len(b) >= 9, nil
	case 0xcc, 0xd0:
		return token{size: 2}, len(b) >= 2, nil
	case 0xcd, 0xd1:
		return token{size: 3}, len(b) >= 3, nil
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1,2,4,8,16 plus a type byte
		return token{size: 2, payload: 1 << (c - 0xd4)}, len(b) >= 2, nil
	case 0xdc:
		lenSize, items = 2, 1
	case 0xdd:
		lenSize, items = 4, 1
	case 0xde:
		lenSize, items = 2, 2
	case 0xdf:
		lenSize, items = 4, 2
	default: // 0xc1, never used
		return token{}, false, fmt.Errorf("%w: reserved byte 0x%02x", ErrMalformed, c)
	}
	size := 1 + lenSize + fixed
	if len(b) < size {
		return token{}, false, nil
	}
	var n uint64
	switch lenSize {
	case 1:
		n = uint64(b[1])
	case 2:
		n = uint64(binary.BigEndian.Uint16(b[1:]))
	case 4:
		n = uint64(binary.BigEndian.Uint32(b[1:]))
	}
	if items == 0 {
		return token{size: size, payload: n}, true, nil
	}
	return token{size: size, items: n * items, isMap: items == 2}, true, nil
}

// Skip returns the length of the first value in b. b must be whole (a
// Reader produced it); a truncated value is ErrMalformed.
func Skip(b []byte) (int, error) {
	off := 0
	for pending := uint64(1); pending > 0; pending-- {
		if off >= len(b) {
			return 0, ErrMalformed
		}
		if c := b[off]; c <= 0x7f || c >= 0xe0 { // fixint
			off++
			continue
		} else if c >= 0xa0 && c <= 0xbf { // fixstr
			if off += 1 + int(c&0x1f); off > len(b) {
				return 0, ErrMalformed
			}
			continue
		}
		t, ok, err := header(b[off:])
		if err != nil {
			return 0, err
		}
		if !ok || t.payload > uint64(len(b)-off-t.size) || t.items > uint64(len(b)) {
			return 0, ErrMalformed
		}
		off += t.size + int(t.payload)
		pending += t.items
	}
	return off, nil
}

// Span is the half-open byte range [Start, End) of a buffer.
type Span struct{ Start, End int }

// ExtPayloads appends to dst the payload spans of the extension values in
// b, a sequence of whole values (a Reader or Scanner accepted them), in
// order, and returns the extended slice; a zero-length payload has an
// empty span. The walk is linear and allocates only to grow dst; it stops
// at a header that does not fit in b. A payload is opaque: extension
// values inside it are not reported.
func ExtPayloads(dst []Span, b []byte) []Span {
	for off := 0; off < len(b); {
		t, ok, err := header(b[off:])
		if err != nil || !ok || t.payload > uint64(len(b)-off-t.size) {
			break
		}
		c := b[off]
		off += t.size
		if (c >= 0xc7 && c <= 0xc9) || (c >= 0xd4 && c <= 0xd8) {
			dst = append(dst, Span{off, off + int(t.payload)})
		}
		off += int(t.payload)
	}
	return dst
}

// IsArrayHeader reports whether c starts a msgpack array, the only valid
// first byte of a MessagePack-RPC message.
func IsArrayHeader(c byte) bool {
	return c&0xf0 == 0x90 || c == 0xdc || c == 0xdd
}
