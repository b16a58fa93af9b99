package msgpack

import (
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	vmsgpack "github.com/vmihailenco/msgpack/v5"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// The fast path encodes and decodes plain Go values — structs of exported
// fields of basic kinds, strings, byte slices, slices, string-keyed maps,
// pointers and nested plain structs — with a plan compiled once per type,
// instead of msgpack's per-field reflection and type-cache lookups. Its
// output is what msgpack produces (structs as maps keyed by field name or
// `msgpack` tag, compact integers), and it decodes what msgpack accepts
// for those types, except conversions that would lose information and
// arrays longer than the struct they fill (see strict.go); an array
// shorter than its struct leaves the remaining fields zero. Any other type
// (custom encoders, interfaces, time.Time, embedded fields, tag options
// other than omitempty) goes to msgpack, after check applies the same
// rules to the bytes.

type plan struct {
	enc func(b []byte, v reflect.Value) []byte
	dec func(d *fastDecoder, v reflect.Value) error
}

type structField struct {
	index     int
	name      string
	key       []byte // the encoded name
	omitEmpty bool
	p         *plan
}

var plans sync.Map // reflect.Type → *plan (nil: not fast)

var (
	customEncoderType = reflect.TypeFor[vmsgpack.CustomEncoder]()
	customDecoderType = reflect.TypeFor[vmsgpack.CustomDecoder]()
	marshalerType     = reflect.TypeFor[vmsgpack.Marshaler]()
	unmarshalerType   = reflect.TypeFor[vmsgpack.Unmarshaler]()
	binMarshalerType  = reflect.TypeFor[encoding.BinaryMarshaler]()
	binUnmarshalType  = reflect.TypeFor[encoding.BinaryUnmarshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshalType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// planFor returns the fast plan of t, or nil when t must go through
// msgpack.
func planFor(t reflect.Type) *plan {
	if p, ok := plans.Load(t); ok {
		return p.(*plan)
	}
	p := compile(t, map[reflect.Type]bool{})
	plans.Store(t, p)
	return p
}

func custom(t reflect.Type) bool {
	for _, it := range []reflect.Type{customEncoderType, customDecoderType, marshalerType, unmarshalerType,
		binMarshalerType, binUnmarshalType, textMarshalerType, textUnmarshalType} {
		if t.Implements(it) || reflect.PointerTo(t).Implements(it) {
			return true
		}
	}
	return false
}

// compile builds t's plan; seen guards against recursive types, which go
// to msgpack.
func compile(t reflect.Type, seen map[reflect.Type]bool) *plan {
	if seen[t] || custom(t) {
		return nil
	}
	seen[t] = true
	defer delete(seen, t)
	switch t.Kind() {
	case reflect.Bool:
		return &plan{encBool, decBool}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &plan{encInt, decInt}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return &plan{encUint, decUint}
	case reflect.Float32:
		return &plan{encFloat32, decFloat}
	case reflect.Float64:
		return &plan{encFloat64, decFloat}
	case reflect.String:
		return &plan{encString, decString}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			if custom(t.Elem()) {
				return nil
			}
			return &plan{encBytes, decBytes}
		}
		ep := compile(t.Elem(), seen)
		if ep == nil {
			return nil
		}
		return slicePlan(t, ep)
	case reflect.Map:
		if t.Key().Kind() != reflect.String || custom(t.Key()) {
			return nil
		}
		vp := compile(t.Elem(), seen)
		if vp == nil {
			return nil
		}
		return mapPlan(t, vp)
	case reflect.Pointer:
		ep := compile(t.Elem(), seen)
		if ep == nil {
			return nil
		}
		return ptrPlan(t, ep)
	case reflect.Struct:
		return structPlan(t, seen)
	}
	return nil
}

func structPlan(t reflect.Type, seen map[reflect.Type]bool) *plan {
	var fields []structField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous || f.Name == "_msgpack" {
			return nil
		}
		tag := f.Tag.Get("msgpack")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" && opts == "" {
			continue
		}
		if !f.IsExported() {
			continue
		}
		omit := false
		for _, o := range strings.Split(opts, ",") {
			switch o {
			case "":
			case "omitempty":
				omit = true
			default:
				return nil
			}
		}
		if omit && (f.Type.Kind() == reflect.Struct || f.Type.Kind() == reflect.Interface ||
			f.Type.Implements(reflect.TypeFor[interface{ IsZero() bool }]())) {
			return nil
		}
		if name == "" {
			name = f.Name
		}
		fp := compile(f.Type, seen)
		if fp == nil {
			return nil
		}
		fields = append(fields, structField{index: i, name: name, key: AppendString(nil, name), omitEmpty: omit, p: fp})
	}
	byName := make(map[string]int, len(fields))
	names := make([]string, len(fields))
	for i, f := range fields {
		byName[f.name] = i
		names[i] = f.name
	}
	p := &plan{}
	p.enc = func(b []byte, v reflect.Value) []byte {
		n := len(fields)
		for i := range fields {
			if fields[i].omitEmpty && empty(v.Field(fields[i].index)) {
				n--
			}
		}
		b = AppendMapHeader(b, n)
		for i := range fields {
			f := &fields[i]
			fv := v.Field(f.index)
			if f.omitEmpty && empty(fv) {
				continue
			}
			b = f.p.enc(append(b, f.key...), fv)
		}
		return b
	}
	p.dec = func(d *fastDecoder, v reflect.Value) error {
		needMatch := d.needMatch
		d.needMatch = false
		c, err := d.peek()
		if err != nil {
			return err
		}
		if c == 0xc0 {
			d.off++
			v.SetZero()
			return nil
		}
		if n, ok := d.arrayLen(); ok { // positional: fields in order, maybe fewer
			if n > len(fields) {
				return tooMany(n, names)
			}
			for i := 0; i < n; i++ {
				if err := fields[i].p.dec(d, v.Field(fields[i].index)); err != nil {
					return under(err, fields[i].name, i+1)
				}
			}
			return nil
		}
		start := d.off
		n, ok := d.mapLen()
		if !ok {
			return d.wrong("a map or an array")
		}
		matched := 0
		for i := 0; i < n; i++ {
			key, err := d.str()
			if err != nil {
				return d.wrong("a string key")
			}
			// Keys usually come in field order: try the i-th field first.
			j := -1
			if i < len(fields) && string(key) == fields[i].name {
				j = i
			} else if k, ok := byName[string(key)]; ok {
				j = k
			}
			if j < 0 {
				if d.strictFields {
					return unknownField(key, names)
				}
				if err := d.skip(); err != nil {
					return err
				}
				continue
			}
			matched++
			if err := fields[j].p.dec(d, v.Field(fields[j].index)); err != nil {
				return under(err, fields[j].name, 0)
			}
		}
		if needMatch && matched == 0 && n > 0 {
			return d.noMatch(start, names)
		}
		return nil
	}
	return p
}

func empty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice, reflect.Map, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Pointer:
		return v.IsNil()
	}
	return false
}

func slicePlan(t reflect.Type, ep *plan) *plan {
	return &plan{
		enc: func(b []byte, v reflect.Value) []byte {
			if v.IsNil() {
				return AppendNil(b)
			}
			n := v.Len()
			b = AppendArrayHeader(b, n)
			for i := 0; i < n; i++ {
				b = ep.enc(b, v.Index(i))
			}
			return b
		},
		dec: func(d *fastDecoder, v reflect.Value) error {
			if d.isNil() {
				v.SetZero()
				return nil
			}
			n, ok := d.arrayLen()
			if !ok {
				return d.wrong("an array")
			}
			if v.Cap() >= n {
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
		},
	}
}

func mapPlan(t reflect.Type, vp *plan) *plan {
	return &plan{
		enc: func(b []byte, v reflect.Value) []byte {
			if v.IsNil() {
				return AppendNil(b)
			}
			b = AppendMapHeader(b, v.Len())
			it := v.MapRange()
			for it.Next() {
				b = vp.enc(AppendString(b, it.Key().String()), it.Value())
			}
			return b
		},
		dec: func(d *fastDecoder, v reflect.Value) error {
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
			kt, et := t.Key(), t.Elem()
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
		},
	}
}

func ptrPlan(t reflect.Type, ep *plan) *plan {
	return &plan{
		enc: func(b []byte, v reflect.Value) []byte {
			if v.IsNil() {
				return AppendNil(b)
			}
			return ep.enc(b, v.Elem())
		},
		dec: func(d *fastDecoder, v reflect.Value) error {
			if d.isNil() {
				v.SetZero()
				return nil
			}
			if v.IsNil() {
				v.Set(reflect.New(t.Elem()))
			}
			return ep.dec(d, v.Elem())
		},
	}
}

func encBool(b []byte, v reflect.Value) []byte   { return AppendBool(b, v.Bool()) }
func encInt(b []byte, v reflect.Value) []byte    { return AppendInt(b, v.Int()) }
func encUint(b []byte, v reflect.Value) []byte   { return AppendUint(b, v.Uint()) }
func encString(b []byte, v reflect.Value) []byte { return AppendString(b, v.String()) }
func encFloat32(b []byte, v reflect.Value) []byte {
	return binary.BigEndian.AppendUint32(append(b, 0xca), math.Float32bits(float32(v.Float())))
}
func encFloat64(b []byte, v reflect.Value) []byte {
	return binary.BigEndian.AppendUint64(append(b, 0xcb), math.Float64bits(v.Float()))
}
func encBytes(b []byte, v reflect.Value) []byte {
	if v.IsNil() {
		return AppendNil(b)
	}
	p := v.Bytes()
	n := len(p)
	switch {
	case n <= math.MaxUint8:
		b = append(b, 0xc4, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, 0xc5), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xc6), uint32(n))
	}
	return append(b, p...)
}

// fastDecoder reads validated msgpack bytes.
type fastDecoder struct {
	b            []byte
	off          int
	strictFields bool   // a map key that names no field is an error
	needMatch    bool   // the next struct, if a non-empty map, must name a field
	edits        []edit // what check changes for msgpack
}

var errShort = errors.New("truncated value")

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
	if ok {
		d.off += hdr
	}
	return n, ok
}

func (d *fastDecoder) mapLen() (int, bool) {
	c, err := d.peek()
	if err != nil {
		return 0, false
	}
	switch {
	case c&0xf0 == 0x80:
		d.off++
		return int(c & 0x0f), true
	case c == 0xde && d.off+3 <= len(d.b):
		n := int(binary.BigEndian.Uint16(d.b[d.off+1:]))
		d.off += 3
		return n, true
	case c == 0xdf && d.off+5 <= len(d.b):
		n := int(binary.BigEndian.Uint32(d.b[d.off+1:]))
		d.off += 5
		return n, true
	}
	return 0, false
}

// str returns the bytes of a str or bin value.
func (d *fastDecoder) str() ([]byte, error) {
	n, err := Skip(d.b[d.off:])
	if err != nil {
		return nil, err
	}
	s, err := ReadStringBytes(d.b[d.off : d.off+n])
	if err != nil {
		c, _ := d.peek()
		return nil, fmt.Errorf("cannot decode msgpack code 0x%02x as a string", c)
	}
	d.off += n
	return s, nil
}

// number reads any integer or float: i for signed, u for unsigned, f for
// floats; kind 'i', 'u' or 'f' says which holds it.
func (d *fastDecoder) number() (i int64, u uint64, f float64, kind byte, err error) {
	c, err := d.peek()
	if err != nil {
		return
	}
	b := d.b[d.off:]
	need := func(n int) bool {
		if len(b) < n {
			err = errShort
			return false
		}
		d.off += n
		return true
	}
	switch {
	case c <= 0x7f:
		d.off++
		return 0, uint64(c), 0, 'u', nil
	case c >= 0xe0:
		d.off++
		return int64(int8(c)), 0, 0, 'i', nil
	}
	switch c {
	case 0xcc:
		if need(2) {
			return 0, uint64(b[1]), 0, 'u', nil
		}
	case 0xcd:
		if need(3) {
			return 0, uint64(binary.BigEndian.Uint16(b[1:])), 0, 'u', nil
		}
	case 0xce:
		if need(5) {
			return 0, uint64(binary.BigEndian.Uint32(b[1:])), 0, 'u', nil
		}
	case 0xcf:
		if need(9) {
			return 0, binary.BigEndian.Uint64(b[1:]), 0, 'u', nil
		}
	case 0xd0:
		if need(2) {
			return int64(int8(b[1])), 0, 0, 'i', nil
		}
	case 0xd1:
		if need(3) {
			return int64(int16(binary.BigEndian.Uint16(b[1:]))), 0, 0, 'i', nil
		}
	case 0xd2:
		if need(5) {
			return int64(int32(binary.BigEndian.Uint32(b[1:]))), 0, 0, 'i', nil
		}
	case 0xd3:
		if need(9) {
			return int64(binary.BigEndian.Uint64(b[1:])), 0, 0, 'i', nil
		}
	case 0xca:
		if need(5) {
			return 0, 0, float64(math.Float32frombits(binary.BigEndian.Uint32(b[1:]))), 'f', nil
		}
	case 0xcb:
		if need(9) {
			return 0, 0, math.Float64frombits(binary.BigEndian.Uint64(b[1:])), 'f', nil
		}
	default:
		err = fmt.Errorf("cannot decode msgpack code 0x%02x as a number", c)
	}
	return
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
	if cap(buf) >= len(s) && buf != nil {
		buf = buf[:len(s)]
	} else {
		buf = make([]byte, len(s))
	}
	copy(buf, s)
	v.SetBytes(buf)
	return nil
}

// AppendFast appends v's msgpack encoding when v's type has a fast plan;
// ok is false otherwise (encode it with msgpack instead).
func AppendFast(b []byte, v any) (out []byte, ok bool) {
	if v == nil {
		return b, false
	}
	rv := reflect.ValueOf(v)
	p := planFor(rv.Type())
	if p == nil {
		return b, false
	}
	return p.enc(b, rv), true
}

// decodeFast decodes b into v (a non-nil pointer) with d when v's type has
// a fast plan.
func decodeFast(d *fastDecoder, b []byte, v any) (ok bool, err error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return false, nil
	}
	p := planFor(rv.Type().Elem())
	if p == nil {
		return false, nil
	}
	d.b, d.off = b, 0
	err = p.dec(d, rv.Elem())
	d.b = nil
	return true, err
}
