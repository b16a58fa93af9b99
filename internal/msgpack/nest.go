package msgpack

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// maxNest bounds how many pointers and containers deep the
// msgpack library is let follow a value. A value that contains itself
// would otherwise make it recurse until the goroutine's stack overflows,
// which ends the process (no recover catches it). It lies far past any
// message's MaxDepth (at most 1,000), so values the engines refuse for
// their depth are still refused by them, with their own error.
const maxNest = 10_000

// CheckNesting reports an error wrapping ErrTooDeep when v goes more than
// maxNest levels deep, as a value that contains itself does. Only values
// of types that can nest without bound (interfaces, recursive types) are
// walked; the fast path's types never can.
func CheckNesting(v any) error {
	if v == nil {
		return nil
	}
	rv := reflect.ValueOf(v)
	if !unbounded(rv.Type()) || fits(rv, maxNest) {
		return nil
	}
	return fmt.Errorf("%w: a %T goes more than %d levels deep (does it contain itself?)", ErrTooDeep, v, maxNest)
}

var (
	unboundedTypes sync.Map // reflect.Type → bool
	opaqueTypes    sync.Map // reflect.Type → bool
)

// unbounded reports whether a value of type t may nest without bound: t
// reaches an interface or itself through what the encoder follows.
func unbounded(t reflect.Type) bool {
	if u, ok := unboundedTypes.Load(t); ok {
		return u.(bool)
	}
	u := reaches(t, map[reflect.Type]bool{})
	unboundedTypes.Store(t, u)
	return u
}

func reaches(t reflect.Type, path map[reflect.Type]bool) bool {
	if opaque(t) {
		return false
	}
	if path[t] { // a recursive type: a struct, or a slice, map or pointer of itself
		return true
	}
	path[t] = true
	defer delete(path, t)
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return reaches(t.Elem(), path)
	case reflect.Map:
		return reaches(t.Key(), path) || reaches(t.Elem(), path)
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); encoded(f) && reaches(f.Type, path) {
				return true
			}
		}
	}
	return false
}

// opaque reports whether t encodes itself (its own msgpack, binary or
// text encoding), so that the encoder does not look inside.
func opaque(t reflect.Type) bool {
	if o, ok := opaqueTypes.Load(t); ok {
		return o.(bool)
	}
	o := false
	if t.Kind() != reflect.Interface {
		for _, it := range []reflect.Type{customEncoderType, marshalerType, binMarshalerType, textMarshalerType} {
			if t.Implements(it) || reflect.PointerTo(t).Implements(it) {
				o = true
			}
		}
	}
	opaqueTypes.Store(t, o)
	return o
}

// encoded reports whether the encoder writes struct field f: exported or
// embedded, and not tagged "-".
func encoded(f reflect.StructField) bool {
	name, _, _ := strings.Cut(f.Tag.Get("msgpack"), ",")
	return (f.IsExported() || f.Anonymous) && name != "-"
}

// fits reports whether v goes at most left pointers and containers deep:
// a scalar, a nil and what encodes itself take no level, an interface
// takes none of its own (it holds a concrete value, never another
// interface, so a cycle passes a pointer or a container too).
func fits(v reflect.Value, left int) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map, reflect.Struct:
		// Only these may nest; an unnamed slice or map has no methods.
		if t := v.Type(); (t.Name() != "" || v.Kind() == reflect.Pointer || v.Kind() == reflect.Struct) && opaque(t) {
			return true
		}
	case reflect.Interface:
		return v.IsNil() || fits(v.Elem(), left)
	default:
		return true // scalars
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map:
		if v.IsNil() {
			return true
		}
	}
	if (v.Kind() == reflect.Slice || v.Kind() == reflect.Array) && v.Type().Elem().Kind() == reflect.Uint8 {
		return true // bin
	}
	if left == 0 {
		return false
	}
	switch v.Kind() {
	case reflect.Pointer:
		return fits(v.Elem(), left-1)
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if !fits(v.Index(i), left-1) {
				return false
			}
		}
	case reflect.Map:
		keys := nestable(v.Type().Key()) // string keys, the usual ones, cannot
		for it := v.MapRange(); it.Next(); {
			if keys && !fits(it.Key(), left-1) || !fits(it.Value(), left-1) {
				return false
			}
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			if encoded(t.Field(i)) && !fits(v.Field(i), left-1) {
				return false
			}
		}
	}
	return true
}

// nestable reports whether a value of type t may hold others.
func nestable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map, reflect.Struct, reflect.Interface:
		return true
	}
	return false
}
