package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/ferryrpc/ferry/codec"
)

// jsonOptions say how MessagePack values without a JSON equivalent print.
type jsonOptions struct {
	bin    string // "base64" (default), "string" or "hex": how bin values print
	indent bool   // pretty-print with two-space indentation
}

// toJSON renders one MessagePack value as JSON, exactly where JSON can:
//   - integers print all their digits (uint64 and int64 stay exact);
//   - floats print in their shortest form; NaN and ±Inf, which JSON lacks,
//     print as the strings "NaN", "Infinity" and "-Infinity";
//   - str prints as a string (invalid UTF-8 becomes U+FFFD);
//   - bin prints as a base64 string (or, with -bin, as text or hex);
//   - the timestamp extension (-1) prints as an RFC 3339 string in UTC;
//     other extensions as {"$ext": TYPE, "data": "BASE64"};
//   - maps print as objects in wire order; a key that is not a string
//     prints as its JSON text ("1", "true", "null", "[1,2]"), or for bin
//     keys as its base64 (or -bin) text.
//
// JSON longer than jsonLimit(len(v)) is an error: a map used as a key
// prints as its JSON text, escaped, so such maps nested in one another
// double the text at each level.
func toJSON(v []byte, o jsonOptions) ([]byte, error) {
	n, err := codec.Validate(v)
	if err != nil {
		return nil, err
	}
	if n != len(v) {
		return nil, errors.New("ferry: trailing bytes after the value")
	}
	w := jsonWriter{o: o, limit: jsonLimit(len(v))}
	if _, err := w.value(v); err != nil {
		if errors.Is(err, errJSONSize) {
			return nil, fmt.Errorf("%w: more than %d bytes, 16 times its %d bytes of MessagePack plus 1 MiB (maps used as map keys, nested, double their text at each level)", err, w.limit, len(v))
		}
		return nil, err
	}
	if !o.indent {
		return w.out, nil
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, w.out, "", "  "); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type jsonWriter struct {
	o     jsonOptions
	out   []byte
	limit int // the most bytes out may hold
}

// jsonLimit is the most JSON toJSON writes for n bytes of MessagePack:
// far more than any value but nested map keys needs (at most about 10
// bytes of JSON per byte: "null," for a nil, "\u0000" for a control
// character, an extension's base64 in an object).
func jsonLimit(n int) int { return 16*n + 1<<20 }

var (
	errShort    = errors.New("ferry: truncated msgpack value")
	errJSONSize = errors.New("its JSON would be too large")
)

// need returns b[off:off+n] or an error when b is too short.
func need(b []byte, off, n int) ([]byte, error) {
	if n < 0 || off+n > len(b) || off+n < off {
		return nil, errShort
	}
	return b[off : off+n], nil
}

// value writes the value at the start of b and returns its length.
func (w *jsonWriter) value(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, errShort
	}
	c := b[0]
	switch {
	case c <= 0x7f:
		w.out = strconv.AppendUint(w.out, uint64(c), 10)
		return 1, nil
	case c >= 0xe0:
		w.out = strconv.AppendInt(w.out, int64(int8(c)), 10)
		return 1, nil
	case c >= 0x80 && c <= 0x8f:
		return w.container(b, 1, int(c&0x0f), true)
	case c >= 0x90 && c <= 0x9f:
		return w.container(b, 1, int(c&0x0f), false)
	case c >= 0xa0 && c <= 0xbf:
		return w.str(b, 1, int(c&0x1f))
	}
	switch c {
	case 0xc0:
		w.out = append(w.out, "null"...)
		return 1, nil
	case 0xc2, 0xc3:
		w.out = strconv.AppendBool(w.out, c == 0xc3)
		return 1, nil
	case 0xca, 0xcb:
		return w.float(b)
	case 0xcc, 0xcd, 0xce, 0xcf:
		return w.uint(b, 1<<(c-0xcc))
	case 0xd0, 0xd1, 0xd2, 0xd3:
		return w.int(b, 1<<(c-0xd0))
	case 0xd9, 0xda, 0xdb:
		return w.lengthThen(b, 1<<(c-0xd9), w.str)
	case 0xc4, 0xc5, 0xc6:
		return w.lengthThen(b, 1<<(c-0xc4), w.bin)
	case 0xdc, 0xdd:
		return w.lengthThen(b, 2<<(c-0xdc), func(b []byte, off, n int) (int, error) { return w.container(b, off, n, false) })
	case 0xde, 0xdf:
		return w.lengthThen(b, 2<<(c-0xde), func(b []byte, off, n int) (int, error) { return w.container(b, off, n, true) })
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return w.ext(b, 1, 1<<(c-0xd4))
	case 0xc7, 0xc8, 0xc9:
		return w.lengthThen(b, 1<<(c-0xc7), w.ext)
	}
	return 0, fmt.Errorf("ferry: invalid msgpack byte 0x%02x", c)
}

// readLen reads a big-endian length of size bytes at b[1:].
func readLen(b []byte, size int) (int, error) {
	p, err := need(b, 1, size)
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, x := range p {
		n = n<<8 | uint64(x)
	}
	if n > math.MaxInt32 {
		return 0, errShort
	}
	return int(n), nil
}

// lengthThen reads a size-byte length and calls next with the offset of
// what follows it.
func (w *jsonWriter) lengthThen(b []byte, size int, next func(b []byte, off, n int) (int, error)) (int, error) {
	n, err := readLen(b, size)
	if err != nil {
		return 0, err
	}
	return next(b, 1+size, n)
}

func (w *jsonWriter) uint(b []byte, size int) (int, error) {
	p, err := need(b, 1, size)
	if err != nil {
		return 0, err
	}
	var v uint64
	for _, x := range p {
		v = v<<8 | uint64(x)
	}
	w.out = strconv.AppendUint(w.out, v, 10)
	return 1 + size, nil
}

func (w *jsonWriter) int(b []byte, size int) (int, error) {
	p, err := need(b, 1, size)
	if err != nil {
		return 0, err
	}
	var v uint64
	for _, x := range p {
		v = v<<8 | uint64(x)
	}
	shift := 64 - 8*size
	w.out = strconv.AppendInt(w.out, int64(v<<shift)>>shift, 10)
	return 1 + size, nil
}

func (w *jsonWriter) float(b []byte) (int, error) {
	size, bits := 4, 32
	if b[0] == 0xcb {
		size, bits = 8, 64
	}
	p, err := need(b, 1, size)
	if err != nil {
		return 0, err
	}
	var f float64
	if size == 4 {
		f = float64(math.Float32frombits(binary.BigEndian.Uint32(p)))
	} else {
		f = math.Float64frombits(binary.BigEndian.Uint64(p))
	}
	switch {
	case math.IsNaN(f):
		w.out = append(w.out, `"NaN"`...)
	case math.IsInf(f, 1):
		w.out = append(w.out, `"Infinity"`...)
	case math.IsInf(f, -1):
		w.out = append(w.out, `"-Infinity"`...)
	default:
		w.out = strconv.AppendFloat(w.out, f, 'g', -1, bits)
	}
	return 1 + size, nil
}

func (w *jsonWriter) str(b []byte, off, n int) (int, error) {
	p, err := need(b, off, n)
	if err != nil {
		return 0, err
	}
	w.out = appendJSONString(w.out, p)
	return off + n, nil
}

func (w *jsonWriter) bin(b []byte, off, n int) (int, error) {
	p, err := need(b, off, n)
	if err != nil {
		return 0, err
	}
	w.out = appendJSONString(w.out, []byte(w.binText(p)))
	return off + n, nil
}

func (w *jsonWriter) binText(p []byte) string {
	switch w.o.bin {
	case "string":
		return string(p)
	case "hex":
		return hex.EncodeToString(p)
	}
	return base64.StdEncoding.EncodeToString(p)
}

// ext writes an extension value of n data bytes whose type byte is at
// b[off].
func (w *jsonWriter) ext(b []byte, off, n int) (int, error) {
	p, err := need(b, off, n+1)
	if err != nil {
		return 0, err
	}
	typ, data := int8(p[0]), p[1:]
	if typ == -1 {
		if t, ok := timestamp(data); ok {
			w.out = appendJSONString(w.out, []byte(t.UTC().Format(time.RFC3339Nano)))
			return off + 1 + n, nil
		}
	}
	w.out = fmt.Appendf(w.out, `{"$ext":%d,"data":`, typ)
	w.out = appendJSONString(w.out, []byte(base64.StdEncoding.EncodeToString(data)))
	w.out = append(w.out, '}')
	return off + 1 + n, nil
}

// timestamp decodes the three forms of MessagePack's timestamp extension.
func timestamp(d []byte) (time.Time, bool) {
	switch len(d) {
	case 4:
		return time.Unix(int64(binary.BigEndian.Uint32(d)), 0), true
	case 8:
		v := binary.BigEndian.Uint64(d)
		return time.Unix(int64(v&(1<<34-1)), int64(v>>34)), true
	case 12:
		return time.Unix(int64(binary.BigEndian.Uint64(d[4:])), int64(binary.BigEndian.Uint32(d))), true
	}
	return time.Time{}, false
}

// container writes n array elements or map pairs starting at b[off].
func (w *jsonWriter) container(b []byte, off, n int, isMap bool) (int, error) {
	open, close := byte('['), byte(']')
	if isMap {
		open, close = '{', '}'
	}
	w.out = append(w.out, open)
	for i := 0; i < n; i++ {
		if i > 0 {
			w.out = append(w.out, ',')
		}
		if isMap {
			l, err := w.key(b[off:])
			if err != nil {
				return 0, err
			}
			off += l
			w.out = append(w.out, ':')
		}
		if off >= len(b) {
			return 0, errShort
		}
		l, err := w.value(b[off:])
		if err != nil {
			return 0, err
		}
		off += l
		if len(w.out) > w.limit {
			return 0, errJSONSize
		}
	}
	w.out = append(w.out, close)
	if len(w.out) > w.limit { // the bracket too: a last element may end at the limit
		return 0, errJSONSize
	}
	return off, nil
}

// key writes a map key as a JSON string: strings as they are, anything
// else as its JSON text (bin as its -bin text).
func (w *jsonWriter) key(b []byte) (int, error) {
	sub := jsonWriter{o: w.o, limit: w.limit - len(w.out)}
	l, err := sub.value(b)
	if err != nil {
		return 0, err
	}
	k := sub.out
	if len(k) > 0 && k[0] == '"' {
		w.out = append(w.out, k...) // str, bin, timestamp: already a string
	} else {
		w.out = appendJSONString(w.out, k)
	}
	if len(w.out) > w.limit {
		return 0, errJSONSize
	}
	return l, nil
}

// appendJSONString appends s as a JSON string, escaping what JSON
// requires and the controls a terminal acts on (nothing HTML-specific);
// invalid UTF-8 becomes U+FFFD.
func appendJSONString(b, s []byte) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for len(s) > 0 {
		r, size := utf8.DecodeRune(s)
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r == '\t':
			b = append(b, `\t`...)
		case r < 0x20 || r >= 0x7f && r < 0xa0 || r == 0x2028 || r == 0x2029: // DEL and C1 too: nothing for a terminal
			b = append(b, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
		default:
			b = append(b, s[:size]...)
		}
		s = s[size:]
	}
	return append(b, '"')
}
