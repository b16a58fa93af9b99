package msgpack

import (
	"encoding/binary"
	"math"
	"reflect"
)

// Buffer is an append-only byte slice that msgpack's encoder can write to
// directly (it implements io.Writer, io.ByteWriter and io.StringWriter).
type Buffer struct{ B []byte }

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) { b.B = append(b.B, p...); return len(p), nil }

// WriteByte appends c.
func (b *Buffer) WriteByte(c byte) error { b.B = append(b.B, c); return nil }

// WriteString appends s.
func (b *Buffer) WriteString(s string) (int, error) { b.B = append(b.B, s...); return len(s), nil }

// AppendArrayHeader appends an array header for n elements.
func AppendArrayHeader(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xdc), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdd), uint32(n))
}

// AppendMapHeader appends a map header for n pairs.
func AppendMapHeader(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x80|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xde), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdf), uint32(n))
}

// AppendUint appends v in its smallest encoding.
func AppendUint(b []byte, v uint64) []byte {
	switch {
	case v <= 0x7f:
		return append(b, byte(v))
	case v <= math.MaxUint8:
		return append(b, 0xcc, byte(v))
	case v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xcf), v)
}

// AppendInt appends v in its smallest encoding.
func AppendInt(b []byte, v int64) []byte {
	if v >= 0 {
		return AppendUint(b, uint64(v))
	}
	switch {
	case v >= -32:
		return append(b, byte(int8(v)))
	case v >= math.MinInt8:
		return append(b, 0xd0, byte(int8(v)))
	case v >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(int16(v)))
	case v >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(int32(v)))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(v))
}

// AppendString appends s as a msgpack str.
func AppendString(b []byte, s string) []byte {
	n := len(s)
	switch {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n <= math.MaxUint8:
		b = append(b, 0xd9, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
	}
	return append(b, s...)
}

// AppendNil appends nil.
func AppendNil(b []byte) []byte { return append(b, 0xc0) }

// AppendBool appends a boolean.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 0xc3)
	}
	return append(b, 0xc2)
}

// AppendStringMap appends a map of strings, or nil for an empty one.
func AppendStringMap(b []byte, m map[string]string) []byte {
	if len(m) == 0 {
		return AppendNil(b)
	}
	b = AppendMapHeader(b, len(m))
	for k, v := range m {
		b = AppendString(AppendString(b, k), v)
	}
	return b
}

// AppendBin appends p as a msgpack bin, or nil for a nil slice.
func AppendBin(b []byte, p []byte) []byte {
	if p == nil {
		return AppendNil(b)
	}
	return append(AppendBinHeader(b, len(p)), p...)
}

// AppendBinHeader appends the header of a bin of n bytes, in its smallest
// form.
func AppendBinHeader(b []byte, n int) []byte {
	switch {
	case n <= math.MaxUint8:
		return append(b, 0xc4, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xc5), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, 0xc6), uint32(n))
	}
}

// AppendFloat32 appends v as a msgpack float32.
func AppendFloat32(b []byte, v float32) []byte {
	return binary.BigEndian.AppendUint32(append(b, 0xca), math.Float32bits(v))
}

// AppendFloat64 appends v as a msgpack float64.
func AppendFloat64(b []byte, v float64) []byte {
	return binary.BigEndian.AppendUint64(append(b, 0xcb), math.Float64bits(v))
}

// BytesLen returns len(v) when v is a byte slice of any type (such as
// codec.Raw) or a non-nil pointer to one, and 0 otherwise; it sizes buffers
// for large payloads.
func BytesLen(v any) int {
	t := reflect.TypeOf(v) // the type first: most values are not bytes
	if t == nil {
		return 0
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Slice || t.Elem().Kind() != reflect.Uint8 {
		return 0
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return 0
		}
		rv = rv.Elem()
	}
	return rv.Len()
}
