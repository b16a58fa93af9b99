package registry

import (
	"reflect"
	"sync"
)

// DecodeCost estimates the memory that n bytes of encoded arguments,
// whose arrays and maps declare items elements in all, take once decoded
// into the method's argument type: n times a factor from the type's
// shape, plus, for a type that holds maps or interfaces, perItem for
// each element. Plain structs, strings and bytes take about what they
// weighed; a slice of structs allocates a whole struct per one-byte
// element; an interface holds every one-byte value boxed, and a map or an
// interface may hold maps: three bytes, 0x81 0xa0 0xc0, become a Go map
// of one entry (about 350 bytes), and maps nested in maps take about 165
// bytes a byte (0x81 0xa0 each). Charging those by their elements, not by
// every byte, keeps a large string or []byte beside a small map cheap.
// The factor is at most 256 (the bound the codec's fuzz target enforces
// per input byte).
func (m *Method) DecodeCost(n, items int) int {
	f := int(m.amplify.Load())
	if f == 0 {
		f = 1
		if m.ArgsType != nil {
			a, boxes := amplification(m.ArgsType, 0)
			f = max(1, min(256, a))
			if boxes {
				f |= boxesFlag
			}
		}
		m.amplify.Store(int32(f))
	}
	cost := n * (f &^ boxesFlag)
	if f&boxesFlag != 0 {
		cost += items * perItem
	}
	return cost
}

// DecodeCostOf is DecodeCost for a value of type t (a pointer is
// followed), for a message of n bytes whose arrays and maps declare items
// elements: what decoding a streaming call's message into it may take.
// Factors are kept per type.
func DecodeCostOf(t reflect.Type, n, items int) int {
	if t == nil {
		return n
	}
	f, ok := typeFactors.Load(t)
	if !ok {
		m := &Method{ArgsType: t}
		if t.Kind() == reflect.Pointer {
			m.ArgsType = t.Elem()
		}
		m.DecodeCost(0, 0) // computes the factor
		f, _ = typeFactors.LoadOrStore(t, m)
	}
	return f.(*Method).DecodeCost(n, items)
}

// typeFactors holds DecodeCostOf's factors: reflect.Type to a *Method
// holding only ArgsType and its factor. Message types are few.
var typeFactors sync.Map

// perItem is what DecodeCost charges for each array or map element of
// arguments whose type holds maps or interfaces: more than a one-entry
// map of a map takes per element (about 175 bytes).
const perItem = 192

// boxesFlag marks, in Method.amplify, a type that holds maps or
// interfaces.
const boxesFlag = 1 << 16

// amplification is the decoded bytes per encoded byte that type t can
// reach, roughly, not counting what its maps and interfaces make of each
// element (a map's entry, a boxed value), and whether it holds maps or
// interfaces (boxes), whose elements DecodeCost charges by count.
func amplification(t reflect.Type, depth int) (f int, boxes bool) {
	if depth > 8 {
		return 16, true
	}
	switch t.Kind() {
	case reflect.Interface:
		return 2, true // each boxed value is an element: perItem
	case reflect.Map:
		k, _ := amplification(t.Key(), depth+1)
		e, _ := amplification(t.Elem(), depth+1)
		return max(k, e), true // each entry's cost beyond its bytes: perItem
	case reflect.Pointer:
		e, b := amplification(t.Elem(), depth+1)
		return 8 + e, b
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return 2, false
		}
		e, b := amplification(t.Elem(), depth+1)
		if k := t.Elem().Kind(); k == reflect.Interface || k == reflect.Map {
			// Each element is an item: its slot and what it holds are
			// charged per element (perItem), not by every byte of the
			// message (a large []byte beside an empty []any was charged
			// 16 times its size).
			return e, b
		}
		return max(int(t.Elem().Size()), e), b
	case reflect.Struct:
		f = 2
		for i := range t.NumField() {
			e, b := amplification(t.Field(i).Type, depth+1)
			f, boxes = max(f, e), boxes || b
		}
		return f, boxes
	case reflect.String:
		return 2, false
	}
	return int(t.Size()), false // a one-byte msgpack integer into an int64 is 8 bytes
}
