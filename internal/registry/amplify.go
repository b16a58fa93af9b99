package registry

import "reflect"

// DecodeCost estimates the memory that n bytes of encoded arguments take
// once decoded into the method's argument type: n times a factor from the
// type's shape. Plain structs, strings and bytes take about what they
// weighed; a slice of structs allocates a whole struct per one-byte
// element; a map may be one of many (three bytes, 0x81 0xa0 0xc0, become a
// Go map of one entry, about 350 bytes); an interface may hold maps nested
// in maps (two bytes each, 0x81 0xa0, about 165 bytes a byte). The factor
// is at most 256 (the bound the codec's fuzz target enforces per input
// byte).
func (m *Method) DecodeCost(n int) int {
	f := int(m.amplify.Load())
	if f == 0 {
		f = 1
		if m.ArgsType != nil {
			f = max(1, min(256, amplification(m.ArgsType, 0)))
		}
		m.amplify.Store(int32(f))
	}
	return n * f
}

// amplification is the decoded bytes per encoded byte that type t can
// reach, roughly.
func amplification(t reflect.Type, depth int) int {
	if depth > 8 {
		return 16
	}
	switch t.Kind() {
	case reflect.Interface:
		return 256
	case reflect.Map:
		return max(128, amplification(t.Key(), depth+1), amplification(t.Elem(), depth+1))
	case reflect.Pointer:
		return 8 + amplification(t.Elem(), depth+1)
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return 2
		}
		return max(int(t.Elem().Size()), amplification(t.Elem(), depth+1))
	case reflect.Struct:
		f := 2
		for i := range t.NumField() {
			f = max(f, amplification(t.Field(i).Type, depth+1))
		}
		return f
	case reflect.String:
		return 2
	}
	return int(t.Size()) // a one-byte msgpack integer into an int64 is 8 bytes
}
