package msgpack

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Decoding never guesses. A value is taken when it fits its Go target
// exactly and refused with a *ValueError otherwise:
//
//   - an integer fits an integer type when it is in the type's range; a
//     float fits an integer type when it is integral and in range (4.0
//     into an int is 4, 3.5 is an error); a negative never fits an
//     unsigned type;
//   - an integer fits a float type when the float holds it exactly
//     (2^53+1 does not fit a float64); a float fits a float32 when it is
//     within float32's range, rounded to the nearest float32;
//   - a string never fits a number or a bool, a number never fits a string;
//   - nil fits everything and leaves the zero value;
//   - a struct takes a map keyed by field name or an array of its fields
//     in declaration order; an array may be shorter than the struct (the
//     missing fields stay zero) but not longer; map keys that name no
//     field are skipped, or refused after DisallowUnknownFields.

// ValueError reports a value that is well-formed MessagePack but does not
// fit its Go target without loss. Decode wraps it together with
// ErrDecode; errors.As finds it.
type ValueError struct {
	// Path is where the value sits under the top-level value: "A",
	// "Opts.Limit", "Items[2]", `Tags["k"]`; empty for the top-level
	// value itself.
	Path string
	// Pos is, when the top-level value is a struct that arrived as an
	// array, the 1-based position of the element the path starts in;
	// otherwise 0.
	Pos int
	// Msg says what is wrong: "want an integer, got 3.5".
	Msg string
}

// Error returns "Path: Msg", or "element N (Path): Msg" for a positional
// top-level struct.
func (e *ValueError) Error() string {
	switch {
	case e.Pos > 0:
		return fmt.Sprintf("element %d (%s): %s", e.Pos, e.Path, e.Msg)
	case e.Path != "":
		return e.Path + ": " + e.Msg
	}
	return e.Msg
}

// under returns err with seg (a field name, or "[i]") put in front of its
// path, and pos as its position; errors other than *ValueError pass
// through.
func under(err error, seg string, pos int) error {
	ve, ok := err.(*ValueError)
	if !ok {
		return err
	}
	switch {
	case ve.Path == "":
		ve.Path = seg
	case ve.Path[0] == '[':
		ve.Path = seg + ve.Path
	default:
		ve.Path = seg + "." + ve.Path
	}
	ve.Pos = pos
	return ve
}

// DisallowUnknownFields makes a map key that names no field of the struct
// it is decoded into an error; by default such keys are skipped, so that
// a peer with a newer version of a struct can still talk to an older one.
func (d *Decoder) DisallowUnknownFields(on bool) { d.fast.strictFields = on }

// DecodeArgs decodes b into v like Decode, as a call's arguments: in
// addition, a non-empty map decoded into the top-level struct must name at
// least one of its fields.
func (d *Decoder) DecodeArgs(b []byte, v any) error {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	d.fast.needMatch = t != nil && t.Kind() == reflect.Struct
	err := d.Decode(b, v)
	d.fast.needMatch = false
	return err
}

// wrong is the error for a value of the wrong kind at d.off.
func (d *fastDecoder) wrong(want string) error {
	return &ValueError{Msg: "want " + want + ", got " + d.got()}
}

// got describes the value at d.off for an error message, without
// consuming it.
func (d *fastDecoder) got() string {
	c, err := d.peek()
	if err != nil {
		return "nothing"
	}
	switch {
	case c == 0xc0:
		return "nil"
	case c == 0xc2:
		return "false"
	case c == 0xc3:
		return "true"
	case c <= 0x7f || c >= 0xe0 || c >= 0xca && c <= 0xd3:
		off := d.off
		i, u, f, kind, err := d.number()
		d.off = off
		if err != nil {
			return "a number"
		}
		return formatNumber(i, u, f, kind)
	case c&0xe0 == 0xa0 || c >= 0xd9 && c <= 0xdb:
		n, err := Skip(d.b[d.off:])
		if err != nil {
			return "a string"
		}
		s, err := ReadStringBytes(d.b[d.off : d.off+n])
		if err != nil {
			return "a string"
		}
		return quote(s)
	case c >= 0xc4 && c <= 0xc6:
		return "binary data"
	case IsArrayHeader(c):
		return "an array"
	case c&0xf0 == 0x80 || c == 0xde || c == 0xdf:
		return "a map"
	}
	return "an extension value"
}

func formatNumber(i int64, u uint64, f float64, kind byte) string {
	switch kind {
	case 'i':
		return strconv.FormatInt(i, 10)
	case 'u':
		return strconv.FormatUint(u, 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// quote quotes s for a message, cut to a readable length.
func quote(s []byte) string {
	const most = 40
	if len(s) <= most {
		return strconv.Quote(string(s))
	}
	cut := most
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(string(s[:cut])) + "…"
}

// intRange is the range of a signed integer kind.
func intRange(k reflect.Kind) (lo, hi int64) {
	switch k {
	case reflect.Int8:
		return math.MinInt8, math.MaxInt8
	case reflect.Int16:
		return math.MinInt16, math.MaxInt16
	case reflect.Int32:
		return math.MinInt32, math.MaxInt32
	case reflect.Int:
		return math.MinInt, math.MaxInt
	}
	return math.MinInt64, math.MaxInt64
}

// uintMax is the largest value of an unsigned integer kind.
func uintMax(k reflect.Kind) uint64 {
	switch k {
	case reflect.Uint8:
		return math.MaxUint8
	case reflect.Uint16:
		return math.MaxUint16
	case reflect.Uint32:
		return math.MaxUint32
	case reflect.Uint, reflect.Uintptr:
		return math.MaxUint
	}
	return math.MaxUint64
}

func rangeError(lo, hi string, k reflect.Kind, got string) error {
	return &ValueError{Msg: "want an integer from " + lo + " to " + hi + " (" + k.String() + "), got " + got}
}

// intFor reads a number for a signed integer of kind k.
func (d *fastDecoder) intFor(k reflect.Kind) (int64, error) {
	if d.off >= len(d.b) {
		return 0, d.wrong("an integer")
	}
	c := d.b[d.off]
	if c <= 0x7f || c >= 0xe0 { // a fixint fits every integer kind
		d.off++
		return int64(int8(c)), nil
	}
	lo, hi := intRange(k)
	if c >= 0xcc && c <= 0xd3 { // uint8…64, int8…64 in range: no conversion to check
		if size := numSize[c-0xca]; d.off+1+size <= len(d.b) {
			u := beUint(d.b[d.off+1:], size)
			i := int64(u<<(64-8*size)) >> (64 - 8*size) // sign-extended
			if c <= 0xcf && u <= uint64(hi) || c >= 0xd0 && i >= lo && i <= hi {
				d.off += 1 + size
				if c <= 0xcf {
					return int64(u), nil
				}
				return i, nil
			}
		}
	}
	start := d.off
	i, u, f, kind, err := d.number()
	if err != nil {
		d.off = start
		return 0, d.wrong("an integer")
	}
	switch kind {
	case 'u':
		if u > uint64(hi) {
			return 0, rangeError(strconv.FormatInt(lo, 10), strconv.FormatInt(hi, 10), k, strconv.FormatUint(u, 10))
		}
		return int64(u), nil
	case 'f':
		if f != math.Trunc(f) { // a fraction, NaN
			return 0, &ValueError{Msg: "want an integer, got " + formatNumber(0, 0, f, 'f')}
		}
		if f < -(1<<63) || f >= 1<<63 {
			return 0, rangeError(strconv.FormatInt(lo, 10), strconv.FormatInt(hi, 10), k, formatNumber(0, 0, f, 'f'))
		}
		i = int64(f)
	}
	if i < lo || i > hi {
		return 0, rangeError(strconv.FormatInt(lo, 10), strconv.FormatInt(hi, 10), k, formatNumber(i, u, f, kind))
	}
	return i, nil
}

// uintFor reads a number for an unsigned integer of kind k.
func (d *fastDecoder) uintFor(k reflect.Kind) (uint64, error) {
	if d.off < len(d.b) && d.b[d.off] <= 0x7f { // fits every unsigned kind
		d.off++
		return uint64(d.b[d.off-1]), nil
	}
	start := d.off
	i, u, f, kind, err := d.number()
	if err != nil {
		d.off = start
		return 0, d.wrong("a non-negative integer")
	}
	hi := uintMax(k)
	switch kind {
	case 'i':
		if i < 0 {
			return 0, rangeError("0", strconv.FormatUint(hi, 10), k, strconv.FormatInt(i, 10))
		}
		u = uint64(i)
	case 'f':
		if f != math.Trunc(f) {
			return 0, &ValueError{Msg: "want an integer, got " + formatNumber(0, 0, f, 'f')}
		}
		if f < 0 || f >= 1<<64 {
			return 0, rangeError("0", strconv.FormatUint(hi, 10), k, formatNumber(0, 0, f, 'f'))
		}
		u = uint64(f)
	}
	if u > hi {
		return 0, rangeError("0", strconv.FormatUint(hi, 10), k, formatNumber(i, u, f, kind))
	}
	return u, nil
}

// floatFor reads a number for a float of kind k (Float32 or Float64).
func (d *fastDecoder) floatFor(k reflect.Kind) (float64, error) {
	if k == reflect.Float64 && d.off+9 <= len(d.b) && d.b[d.off] == 0xcb {
		d.off += 9
		return math.Float64frombits(binary.BigEndian.Uint64(d.b[d.off-8:])), nil
	}
	start := d.off
	i, u, f, kind, err := d.number()
	if err != nil {
		d.off = start
		return 0, d.wrong("a number")
	}
	exact := true
	switch kind {
	case 'i':
		f = float64(i)
		if k == reflect.Float32 {
			f = float64(float32(i))
		}
		exact = f >= -(1<<63) && f < 1<<63 && int64(f) == i
	case 'u':
		f = float64(u)
		if k == reflect.Float32 {
			f = float64(float32(u))
		}
		exact = f < 1<<64 && uint64(f) == u
	case 'f':
		if k == reflect.Float32 && !math.IsInf(f, 0) && math.IsInf(float64(float32(f)), 0) {
			return 0, &ValueError{Msg: "want a number within float32's range, got " + formatNumber(0, 0, f, 'f')}
		}
	}
	if !exact {
		return 0, &ValueError{Msg: "want a number that " + k.String() + " holds exactly, got " + formatNumber(i, u, 0, kind)}
	}
	return f, nil
}

// tooMany is the error for an array of n elements filling a struct with
// fewer fields.
func tooMany(n int, names []string) error {
	if len(names) == 0 {
		return &ValueError{Msg: fmt.Sprintf("too many values: want none, got %d", n)}
	}
	return &ValueError{Msg: fmt.Sprintf("too many values: want at most %d (%s), got %d", len(names), strings.Join(names, ", "), n)}
}

func unknownField(key []byte, names []string) error {
	return &ValueError{Msg: fmt.Sprintf("unknown field %s (fields: %s)", quote(key), strings.Join(names, ", "))}
}

// noMatch is the error for a map, starting at off, none of whose keys names
// a field.
func (d *fastDecoder) noMatch(off int, names []string) error {
	d.off = off
	n, _ := d.mapLen()
	var keys []string
	for i := 0; i < n && i < 5; i++ {
		k, err := d.str()
		if err != nil {
			break
		}
		keys = append(keys, quote(k))
		if d.skip() != nil {
			break
		}
	}
	if n > len(keys) {
		keys = append(keys, "…")
	}
	return &ValueError{Msg: fmt.Sprintf("no field named %s (fields: %s)", strings.Join(keys, ", "), strings.Join(names, ", "))}
}
