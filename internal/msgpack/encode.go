package msgpack

import (
	"reflect"
	"sync/atomic"
	"unsafe"
)

// lastEnc is the type AppendFast saw last, with its plan: a caller that
// encodes one type after another skips the plan cache's lookup.
var lastEnc atomic.Pointer[typedPlan]

// AppendFast appends v's msgpack encoding when v's type has a fast plan;
// ok is false otherwise (encode it with msgpack instead).
func AppendFast(b []byte, v any) (out []byte, ok bool) {
	if v == nil {
		return b, false
	}
	rv := reflect.ValueOf(v)
	tp := lastEnc.Load()
	if tp == nil || tp.t != rv.Type() {
		tp = planFor(rv.Type())
		lastEnc.Store(tp)
	}
	switch {
	case tp.p == nil:
		return b, false
	case tp.p.elem != nil: // a pointer: encode what it points to by its address
		if rv.IsNil() {
			return AppendNil(b), true
		}
		return tp.p.elem.encP(b, rv.UnsafePointer()), true
	}
	return tp.p.enc(b, rv), true
}

// encodeP encodes the struct at p.
func (sp *structPlan) encodeP(b []byte, p unsafe.Pointer) []byte {
	if sp.asArray { // every field, omitempty or not
		b = AppendArrayHeader(b, len(sp.fields))
		for i := range sp.fields {
			f := &sp.fields[i]
			b = f.p.encP(b, unsafe.Add(p, f.offset))
		}
		return b
	}
	n := len(sp.fields)
	if sp.omits {
		for i := range sp.fields {
			if f := &sp.fields[i]; f.omitEmpty && f.p.emptyP(unsafe.Add(p, f.offset)) {
				n--
			}
		}
	}
	b = AppendMapHeader(b, n)
	for i := range sp.fields {
		f := &sp.fields[i]
		fp := unsafe.Add(p, f.offset)
		if sp.omits && f.omitEmpty && f.p.emptyP(fp) {
			continue
		}
		b = f.p.encP(append(b, f.key...), fp)
	}
	return b
}

// isEmptyP is isEmpty for the struct at p.
func (sp *structPlan) isEmptyP(p unsafe.Pointer) bool {
	for i := range sp.fields {
		if f := &sp.fields[i]; !f.omitEmpty || !f.p.emptyP(unsafe.Add(p, f.offset)) {
			return false
		}
	}
	return true
}

// encode is a struct's reflect.Value form: by address when v has one (it
// is a field or element of a value passed by value), else field by field.
func (sp *structPlan) encode(b []byte, v reflect.Value) []byte {
	if v.CanAddr() {
		return sp.encodeP(b, v.Addr().UnsafePointer())
	}
	if sp.asArray { // every field, omitempty or not
		b = AppendArrayHeader(b, len(sp.fields))
		for i := range sp.fields {
			f := &sp.fields[i]
			b = f.p.enc(b, f.value(v))
		}
		return b
	}
	n := len(sp.fields)
	if sp.omits {
		for i := range sp.fields {
			if f := &sp.fields[i]; f.omitted(f.value(v)) {
				n--
			}
		}
	}
	b = AppendMapHeader(b, n)
	for i := range sp.fields {
		f := &sp.fields[i]
		fv := f.value(v)
		if sp.omits && f.omitted(fv) {
			continue
		}
		b = f.p.enc(append(b, f.key...), fv)
	}
	return b
}

// isEmpty reports whether omitempty omits a struct: when every field is
// omitempty and empty (msgpack's rule; a struct without fields is empty).
func (sp *structPlan) isEmpty(v reflect.Value) bool {
	for i := range sp.fields {
		if f := &sp.fields[i]; !f.omitted(f.value(v)) {
			return false
		}
	}
	return true
}

// isEmpty reports whether omitempty omits v, a value of a kind other than
// struct.
func isEmpty(v reflect.Value) bool {
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

func encSlice(ep *plan) func(b []byte, v reflect.Value) []byte {
	return func(b []byte, v reflect.Value) []byte {
		if v.IsNil() {
			return AppendNil(b)
		}
		n := v.Len()
		b = AppendArrayHeader(b, n)
		for i := 0; i < n; i++ {
			b = ep.enc(b, v.Index(i))
		}
		return b
	}
}

func encMap(vp *plan) func(b []byte, v reflect.Value) []byte {
	return func(b []byte, v reflect.Value) []byte {
		if v.IsNil() {
			return AppendNil(b)
		}
		b = AppendMapHeader(b, v.Len())
		it := v.MapRange()
		for it.Next() {
			b = vp.enc(AppendString(b, it.Key().String()), it.Value())
		}
		return b
	}
}

func encPtr(ep *plan) func(b []byte, v reflect.Value) []byte {
	return func(b []byte, v reflect.Value) []byte {
		if v.IsNil() {
			return AppendNil(b)
		}
		return ep.enc(b, v.Elem())
	}
}

func encBool(b []byte, v reflect.Value) []byte    { return AppendBool(b, v.Bool()) }
func encInt(b []byte, v reflect.Value) []byte     { return AppendInt(b, v.Int()) }
func encUint(b []byte, v reflect.Value) []byte    { return AppendUint(b, v.Uint()) }
func encString(b []byte, v reflect.Value) []byte  { return AppendString(b, v.String()) }
func encFloat32(b []byte, v reflect.Value) []byte { return AppendFloat32(b, float32(v.Float())) }
func encFloat64(b []byte, v reflect.Value) []byte { return AppendFloat64(b, v.Float()) }

func encBytes(b []byte, v reflect.Value) []byte {
	if v.IsNil() {
		return AppendNil(b)
	}
	return AppendBin(b, v.Bytes())
}
