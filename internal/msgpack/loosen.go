package msgpack

import (
	"reflect"
	"sync"
	"unsafe"
)

// loosen readies what v (a non-nil pointer) holds for msgpack, which
// decodes into the value an interface holds: an interface holding a
// non-pointer (or a nil pointer) cannot be set through, so decoding into
// a variable, slice element or field of type any that a previous value
// had filled failed ("Decode(non-pointer int64)", "unaddressable value").
// Such an interface is cleared, to take the new value as encoding/json's
// does; one holding a non-nil pointer is decoded through, as before. Only
// types that can hold an interface are walked, slices to their capacity
// (msgpack reuses it), each pointer once.
func loosen(v any) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || !holdsIface(rv.Type().Elem()) {
		return
	}
	w := walker{}
	w.walk(rv.Elem())
}

// walker walks a value, remembering the pointers it followed.
type walker struct{ seen map[unsafe.Pointer]bool }

func (w *walker) walk(v reflect.Value) {
	switch v.Kind() {
	case reflect.Interface:
		if v.IsNil() {
			return
		}
		if e := v.Elem(); e.Kind() == reflect.Pointer && !e.IsNil() {
			w.follow(e)
		} else if v.CanSet() {
			v.SetZero()
		}
	case reflect.Pointer:
		if !v.IsNil() && holdsIface(v.Type().Elem()) {
			w.follow(v)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if holdsIface(v.Type().Field(i).Type) {
				w.walk(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.IsNil() || !holdsIface(v.Type().Elem()) {
			return
		}
		v = v.Slice(0, v.Cap())
		fallthrough
	case reflect.Array:
		if !holdsIface(v.Type().Elem()) {
			return
		}
		for i := range v.Len() {
			w.walk(v.Index(i))
		}
	}
}

// follow walks what the non-nil pointer p points to, once.
func (w *walker) follow(p reflect.Value) {
	if w.seen == nil {
		w.seen = make(map[unsafe.Pointer]bool)
	}
	if w.seen[p.UnsafePointer()] {
		return
	}
	w.seen[p.UnsafePointer()] = true
	w.walk(p.Elem())
}

// ifaceHolders caches holdsIface by type.
var ifaceHolders sync.Map // reflect.Type → bool

// holdsIface reports whether a value of type t can hold an interface
// value that decoding could reach (maps are not walked: msgpack decodes
// each entry into a new value).
func holdsIface(t reflect.Type) bool {
	if h, ok := ifaceHolders.Load(t); ok {
		return h.(bool)
	}
	h := scanIface(t, map[reflect.Type]bool{})
	ifaceHolders.Store(t, h)
	return h
}

func scanIface(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false // a recursive type: answered where it started
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return scanIface(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if scanIface(t.Field(i).Type, seen) {
				return true
			}
		}
	}
	return false
}
