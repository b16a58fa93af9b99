package msgpack

import (
	"errors"
	"reflect"
	"strconv"
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
	d.b, d.off = b, 0
	err = d.lastP.dec(d, rv.Elem())
	d.b = nil
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

func (sp *structPlan) decode(d *fastDecoder, v reflect.Value) error {
	needMatch := d.needMatch
	d.needMatch = false
	if d.isNil() {
		if !v.CanSet() { // an unexported embedded struct: msgpack panics
			return &ValueError{Msg: "cannot set an unexported embedded " + v.Type().String() + " to nil"}
		}
		v.SetZero()
		return nil
	}
	if n, ok := d.arrayLen(); ok { // positional: fields in order, maybe fewer
		return sp.decodeArray(d, v, n)
	}
	start := d.off
	n, ok := d.mapLen()
	if !ok {
		return d.wrong("a map or an array")
	}
	matched, err := sp.decodeMap(d, v, n)
	if err == nil && needMatch && matched == 0 && n > 0 {
		return d.noMatch(start, sp.names)
	}
	return err
}

func (sp *structPlan) decodeArray(d *fastDecoder, v reflect.Value, n int) error {
	if n > len(sp.fields) {
		return tooMany(n, sp.names)
	}
	for i := 0; i < n; i++ {
		f := &sp.fields[i]
		if err := f.p.dec(d, f.value(v)); err != nil {
			return under(err, f.name, i+1)
		}
	}
	return nil
}

// decodeMap decodes n pairs into v's fields and returns how many named
// one.
func (sp *structPlan) decodeMap(d *fastDecoder, v reflect.Value, n int) (matched int, err error) {
	for i := 0; i < n; i++ {
		key, err := d.str()
		if err != nil {
			return matched, d.wrong("a string key")
		}
		// Keys usually come in field order: try the i-th field first.
		var f *fieldPlan
		if i < len(sp.fields) && sp.fields[i].first && string(key) == sp.fields[i].name {
			f = &sp.fields[i]
		} else {
			f = sp.byName[string(key)]
		}
		if f == nil {
			if d.strictFields {
				return matched, unknownField(key, sp.names)
			}
			if err := d.skip(); err != nil {
				return matched, err
			}
			continue
		}
		matched++
		if err := f.p.dec(d, f.value(v)); err != nil {
			return matched, under(err, f.name, 0)
		}
	}
	return matched, nil
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
			key, err := d.str()
			if err != nil {
				return d.wrong("a string key")
			}
			ev := reflect.New(et).Elem()
			if err := vp.dec(d, ev); err != nil {
				return under(err, "["+quote(key)+"]", 0)
			}
			v.SetMapIndex(reflect.ValueOf(string(key)).Convert(kt), ev)
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
	s, err := d.str()
	if err != nil {
		return d.wrong("a string")
	}
	v.SetString(string(s))
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
	buf := v.Bytes()
	switch {
	case cap(buf) >= len(s) && buf != nil:
		buf = buf[:copy(buf[:len(s)], s)]
	case len(s) == 0:
		buf = []byte{}
	default:
		// append, unlike make and copy, does not clear memory it is
		// about to overwrite: a large payload is written once.
		buf = append([]byte(nil), s...)
	}
	v.SetBytes(buf)
	return nil
}
