package registry

import (
	"math"
	"reflect"
	"sync"
)

// DecodeCost estimates the memory that n bytes of encoded arguments take
// once decoded into the method's argument type: n times a factor from the
// type's shape, plus perItem for each element the message's arrays and
// maps declare (items) when the type holds interfaces, or for each map
// and map entry (maps) when it holds maps but no interfaces. Plain
// structs, strings and bytes take about what they weighed; a slice of
// structs allocates a whole struct per one-byte element; an interface
// holds every one-byte value boxed, and a map or an interface may hold
// maps: three bytes, 0x81 0xa0 0xc0, become a Go map of one entry (about
// 350 bytes), and maps nested in maps take about 165 bytes a byte (0x81
// 0xa0 each). Charging those by their elements, not by every byte, keeps
// a large string or []byte beside a small map cheap, and numbers in an
// array beside a map are not charged as maps. The factor is at most 256
// (the bound the codec's fuzz target enforces per input byte); the cost
// is computed in 64 bits and capped at the largest int.
func (m *Method) DecodeCost(n, items, maps int) int {
	f := int(m.amplify.Load())
	if f == 0 {
		f = 1
		if m.ArgsType != nil {
			a, holds := amplification(m.ArgsType, 0)
			f = max(1, min(256, a))
			switch {
			case holds&holdsInterface != 0:
				f |= ifaceFlag
			case holds&holdsMap != 0:
				f |= mapFlag
			}
		}
		m.amplify.Store(int32(f))
	}
	// Counts beyond 2⁴⁰ (no message is that large) are 2⁴⁰: the sum
	// below cannot pass 2⁵⁰.
	const most = 1 << 40
	cost := min(int64(n), most) * int64(f&^(ifaceFlag|mapFlag))
	switch {
	case f&ifaceFlag != 0:
		cost += min(int64(items), most) * perItem
	case f&mapFlag != 0:
		cost += min(int64(maps), most) * perItem
	}
	return int(min(cost, math.MaxInt))
}

// DecodeCostOf is DecodeCost for a value of type t (a pointer is
// followed), for a message of n bytes whose arrays and maps declare items
// elements and which holds maps map items (msgpack.Scanner.MapItems):
// what decoding a streaming call's message into it may take. Factors are
// kept per type.
func DecodeCostOf(t reflect.Type, n, items, maps int) int {
	if t == nil {
		return n
	}
	f, ok := typeFactors.Load(t)
	if !ok {
		m := &Method{ArgsType: t}
		if t.Kind() == reflect.Pointer {
			m.ArgsType = t.Elem()
		}
		m.DecodeCost(0, 0, 0) // computes the factor
		f, _ = typeFactors.LoadOrStore(t, m)
	}
	return f.(*Method).DecodeCost(n, items, maps)
}

// typeFactors holds DecodeCostOf's factors: reflect.Type to a *Method
// holding only ArgsType and its factor. Message types are few.
var typeFactors sync.Map

// perItem is what DecodeCost charges for each array or map element of
// arguments whose type holds interfaces, or each map and map entry of
// arguments whose type holds maps: more than a one-entry map of a map
// takes per element (about 175 bytes).
const perItem = 192

// ifaceFlag and mapFlag mark, in Method.amplify, a type that holds
// interfaces, and one that holds maps but no interfaces.
const (
	ifaceFlag = 1 << 16
	mapFlag   = 1 << 17
)

// What a type holds that DecodeCost charges by count (amplification).
const (
	holdsMap = 1 << iota
	holdsInterface
)

// amplification is the decoded bytes per encoded byte that type t can
// reach, roughly, not counting what its maps and interfaces make of each
// element (a map's entry, a boxed value), and whether it holds maps or
// interfaces (holds), whose elements DecodeCost charges by count.
func amplification(t reflect.Type, depth int) (f int, holds int) {
	if depth > 8 {
		return 16, holdsInterface // unknown below: charge every element
	}
	switch t.Kind() {
	case reflect.Interface:
		return 2, holdsInterface // each boxed value is an element: perItem
	case reflect.Map:
		k, kh := amplification(t.Key(), depth+1)
		e, eh := amplification(t.Elem(), depth+1)
		return max(k, e), holdsMap | kh | eh // each map and entry: perItem
	case reflect.Pointer:
		e, h := amplification(t.Elem(), depth+1)
		return 8 + e, h
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return 2, 0
		}
		e, h := amplification(t.Elem(), depth+1)
		if k := t.Elem().Kind(); k == reflect.Interface || k == reflect.Map {
			// Each element is charged by count (perItem), its slot
			// included, not by every byte of the message (a large []byte
			// beside an empty []any was charged 16 times its size).
			return e, h
		}
		return max(int(t.Elem().Size()), e), h
	case reflect.Struct:
		f = 2
		for i := range t.NumField() {
			e, h := amplification(t.Field(i).Type, depth+1)
			f, holds = max(f, e), holds|h
		}
		return f, holds
	case reflect.String:
		return 2, 0
	}
	return int(t.Size()), 0 // a one-byte msgpack integer into an int64 is 8 bytes
}
