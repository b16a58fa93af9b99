package msgpack

import (
	"encoding/binary"
	"errors"
	"reflect"
	"strconv"
	"unsafe"
)

// fastDecoder reads validated msgpack bytes.
type fastDecoder struct {
	b            []byte
	off          int
	strictFields bool         // a map key that names no field is an error
	needMatch    bool         // the next struct, if a non-empty map, must name a field
	edits        []edit       // what check changes for msgpack
	lastT        reflect.Type // the pointer type decoded last
	lastP        *plan        // its element's plan
	// The strings decoded from b share copies of spans of b: window
	// holds b[windowOff:windowOff+len(window)] (see string).
	window    string
	windowOff int
}

// decodeFast decodes b into v (a non-nil pointer) with d when v's type has
// a fast plan.
func decodeFast(d *fastDecoder, b []byte, v any) (ok bool, err error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return false, nil
	}
	if d.lastT != rv.Type() {
		d.lastT, d.lastP = rv.Type(), planFor(rv.Type().Elem()).p
	}
	if d.lastP == nil {
		return false, nil
	}
	// The window is reset before as well as after: a panic (reflect
	// refusing to set a field; Decode recovers it) skips the reset after.
	d.b, d.off, d.window, d.windowOff = b, 0, "", 0
	err = d.lastP.decP(d, rv.UnsafePointer())
	d.b, d.window, d.windowOff = nil, "", 0
	return true, err
}

var (
	errShort     = errors.New("truncated value")
	errNotString = errors.New("not a string")
)

func (d *fastDecoder) peek() (byte, error) {
	if d.off >= len(d.b) {
		return 0, errShort
	}
	return d.b[d.off], nil
}

func (d *fastDecoder) isNil() bool {
	if d.off < len(d.b) && d.b[d.off] == 0xc0 {
		d.off++
		return true
	}
	return false
}

func (d *fastDecoder) skip() error {
	n, err := Skip(d.b[d.off:])
	d.off += n
	return err
}

func (d *fastDecoder) arrayLen() (int, bool) {
	n, hdr, ok := ArrayLen(d.b[d.off:])
	d.off += hdr
	return n, ok
}

func (d *fastDecoder) mapLen() (int, bool) {
	n, hdr, ok := MapLen(d.b[d.off:])
	d.off += hdr
	return n, ok
}

// str returns the bytes of a str or bin value.
func (d *fastDecoder) str() ([]byte, error) {
	s, n, err := ReadString(d.b[d.off:])
	if err != nil {
		return nil, errNotString
	}
	d.off += n
	return s, nil
}

// strSpan returns where the bytes of the str or bin value at d.off start
// and end in d.b, and moves past it.
func (d *fastDecoder) strSpan() (start, end int, err error) {
	if d.off < len(d.b) {
		if c := d.b[d.off]; c&0xe0 == 0xa0 { // fixstr
			start, end = d.off+1, d.off+1+int(c&0x1f)
			if end <= len(d.b) {
				d.off = end
				return start, end, nil
			}
		}
	}
	s, n, err := ReadString(d.b[d.off:])
	if err != nil {
		return 0, 0, errNotString
	}
	d.off += n
	return d.off - len(s), d.off, nil
}

// stringWindow is the most a decoded string shares: the strings of one
// value are cut from copies of b of up to this many bytes, one allocation
// for all the strings a copy covers, instead of one each. A longer string
// has its own copy.
const stringWindow = 1024

// string returns a string holding d.b[start:end], cut from the current
// window when it lies inside it, else from a new one that starts at start.
// No string refers to d.b.
func (d *fastDecoder) string(start, end int) string {
	switch {
	case start == end:
		return ""
	case start >= d.windowOff && end <= d.windowOff+len(d.window):
		return d.window[start-d.windowOff : end-d.windowOff]
	case end-start >= stringWindow:
		return string(d.b[start:end])
	}
	d.window, d.windowOff = string(d.b[start:min(len(d.b), start+stringWindow)]), start
	return d.window[:end-start]
}

// number reads any integer or float: i for a negative integer, u for a
// non-negative one, f for a float; kind 'i', 'u' or 'f' says which holds
// it.
func (d *fastDecoder) number() (i int64, u uint64, f float64, kind byte, err error) {
	v, n, err := ReadNumber(d.b[d.off:])
	if err != nil {
		return 0, 0, 0, 0, err
	}
	d.off += n
	return v.I, v.U, v.F, "?uif"[v.Kind], nil
}

// decode is a struct's reflect.Value form, which an unexported embedded
// field reaches: reflect cannot set it to nil.
func (sp *structPlan) decode(d *fastDecoder, v reflect.Value) error {
	if !v.CanSet() && d.off < len(d.b) && d.b[d.off] == 0xc0 { // msgpack panics
		d.needMatch = false
		return &ValueError{Msg: "cannot set an unexported embedded " + v.Type().String() + " to nil"}
	}
	return sp.decodeP(d, v.Addr().UnsafePointer())
}

func (sp *structPlan) decodeP(d *fastDecoder, p unsafe.Pointer) error {
	needMatch := d.needMatch
	d.needMatch = false
	if d.isNil() {
		reflect.NewAt(sp.t, p).Elem().SetZero()
		return nil
	}
	if n, ok := d.arrayLen(); ok { // positional: fields in order, maybe fewer
		return sp.decodeArray(d, p, n)
	}
	start := d.off
	n, ok := d.mapLen()
	if !ok {
		return d.wrong("a map or an array")
	}
	matched, err := sp.decodeMap(d, p, n)
	if err == nil && needMatch && matched == 0 && n > 0 {
		return d.noMatch(start, sp.names)
	}
	return err
}

// decodeField decodes the next value into f, a field of the struct at p.
func (sp *structPlan) decodeField(d *fastDecoder, p unsafe.Pointer, f *fieldPlan) error {
	if f.readOnly {
		return f.p.dec(d, f.value(reflect.NewAt(sp.t, p).Elem()))
	}
	return f.p.decP(d, unsafe.Add(p, f.offset))
}

func (sp *structPlan) decodeArray(d *fastDecoder, p unsafe.Pointer, n int) error {
	if n > len(sp.fields) {
		return tooMany(n, sp.names)
	}
	for i := 0; i < n; i++ {
		f := &sp.fields[i]
		if err := sp.decodeField(d, p, f); err != nil {
			return under(err, f.name, i+1)
		}
	}
	return nil
}

// decodeMap decodes n pairs into the fields of the struct at p and returns
// how many named one.
func (sp *structPlan) decodeMap(d *fastDecoder, p unsafe.Pointer, n int) (matched int, err error) {
	for i := 0; i < n; i++ {
		// Keys usually come in field order, encoded as msgpack encodes
		// them: try the i-th field's encoded name first.
		var f *fieldPlan
		if i < len(sp.fields) && sp.fields[i].first && sp.fields[i].keyAt(d.b[d.off:]) {
			f = &sp.fields[i]
			d.off += len(f.key)
		} else {
			start, end, err := d.strSpan()
			if err != nil {
				return matched, d.wrong("a string key")
			}
			key := d.b[start:end]
			if f = sp.byName[string(key)]; f == nil {
				if d.strictFields {
					return matched, unknownField(key, sp.names)
				}
				if err := d.skip(); err != nil {
					return matched, err
				}
				continue
			}
		}
		matched++
		if err := sp.decodeField(d, p, f); err != nil {
			return matched, under(err, f.name, 0)
		}
	}
	return matched, nil
}

// keyAt reports whether b starts with f's encoded name: for an encoded
// name of up to 8 bytes, one 8-byte load compared under a mask.
func (f *fieldPlan) keyAt(b []byte) bool {
	if f.keyMask != 0 && len(b) >= 8 {
		return binary.LittleEndian.Uint64(b)&f.keyMask == f.keyWord
	}
	return len(b) >= len(f.key) && string(b[:len(f.key)]) == string(f.key)
}

func decSlice(t reflect.Type, ep *plan) func(d *fastDecoder, v reflect.Value) error {
	return func(d *fastDecoder, v reflect.Value) error {
		if d.isNil() {
			v.SetZero()
			return nil
		}
		n, ok := d.arrayLen()
		if !ok {
			return d.wrong("an array")
		}
		if n == 0 && v.IsNil() { // msgpack gives an empty slice, not nil
			v.Set(reflect.MakeSlice(t, 0, 0))
		} else if v.Cap() >= n {
			v.SetLen(n)
		} else {
			v.Set(reflect.MakeSlice(t, n, n))
		}
		for i := 0; i < n; i++ {
			if err := ep.dec(d, v.Index(i)); err != nil {
				return under(err, "["+strconv.Itoa(i)+"]", 0)
			}
		}
		return nil
	}
}

func decMap(t reflect.Type, vp *plan) func(d *fastDecoder, v reflect.Value) error {
	kt, et := t.Key(), t.Elem()
	return func(d *fastDecoder, v reflect.Value) error {
		if d.isNil() {
			v.SetZero()
			return nil
		}
		n, ok := d.mapLen()
		if !ok {
			return d.wrong("a map")
		}
		if v.IsNil() {
			v.Set(reflect.MakeMapWithSize(t, n))
		}
		for i := 0; i < n; i++ {
			start, end, err := d.strSpan()
			if err != nil {
				return d.wrong("a string key")
			}
			ev := reflect.New(et)
			if err := vp.decP(d, ev.UnsafePointer()); err != nil {
				return under(err, "["+quote(d.b[start:end])+"]", 0)
			}
			v.SetMapIndex(reflect.ValueOf(d.string(start, end)).Convert(kt), ev.Elem())
		}
		return nil
	}
}

func decPtr(t reflect.Type, ep *plan) func(d *fastDecoder, v reflect.Value) error {
	return func(d *fastDecoder, v reflect.Value) error {
		if d.isNil() {
			v.SetZero()
			return nil
		}
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		return ep.dec(d, v.Elem())
	}
}

func decBool(d *fastDecoder, v reflect.Value) error {
	c, err := d.peek()
	if err != nil {
		return err
	}
	switch c {
	case 0xc0, 0xc2:
		v.SetBool(false)
	case 0xc3:
		v.SetBool(true)
	default:
		return d.wrong("a boolean")
	}
	d.off++
	return nil
}

func decInt(d *fastDecoder, v reflect.Value) error {
	if d.isNil() {
		v.SetInt(0)
		return nil
	}
	i, err := d.intFor(v.Kind())
	if err != nil {
		return err
	}
	v.SetInt(i)
	return nil
}

func decUint(d *fastDecoder, v reflect.Value) error {
	if d.isNil() {
		v.SetUint(0)
		return nil
	}
	u, err := d.uintFor(v.Kind())
	if err != nil {
		return err
	}
	v.SetUint(u)
	return nil
}

func decFloat(d *fastDecoder, v reflect.Value) error {
	if d.isNil() {
		v.SetFloat(0)
		return nil
	}
	f, err := d.floatFor(v.Kind())
	if err != nil {
		return err
	}
	v.SetFloat(f)
	return nil
}

func decString(d *fastDecoder, v reflect.Value) error {
	if d.isNil() {
		v.SetString("")
		return nil
	}
	start, end, err := d.strSpan()
	if err != nil {
		return d.wrong("a string")
	}
	v.SetString(d.string(start, end))
	return nil
}

func decBytes(d *fastDecoder, v reflect.Value) error {
	if d.isNil() {
		v.SetZero()
		return nil
	}
	s, err := d.str()
	if err != nil {
		return d.wrong("binary data or a string")
	}
	v.SetBytes(fillBytes(v.Bytes(), s))
	return nil
}

// fillBytes returns s copied into buf when buf has the room (buf's array
// is reused), else into a new slice; an empty s gives an empty, non-nil
// slice, as msgpack does.
func fillBytes(buf, s []byte) []byte {
	switch {
	case cap(buf) >= len(s) && buf != nil:
		return buf[:copy(buf[:len(s)], s)]
	case len(s) == 0:
		return []byte{}
	}
	// append, unlike make and copy, does not clear memory it is about to
	// overwrite: a large payload is written once.
	return append([]byte(nil), s...)
}
