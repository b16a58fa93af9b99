package msgpack

import (
	"reflect"
	"strconv"
	"unsafe"
)

// The plans' address forms (decP, encP, emptyP) take the address of the
// value they decode, encode or test: a struct's field is the struct's
// address plus the field's offset, and a field of a basic kind, a string,
// a slice or a pointer is loaded and stored as its Go type, without a
// reflect.Value. The reflect.Value forms remain where no such address is
// at hand or where reflect's rules must apply: values passed to AppendFast
// by value, and an unexported embedded field, which reflect refuses to set
// (decoding into one fails as it always did).
//
// Every address handed to an address form points to a live value of the
// plan's type: the caller's pointer, a field of such a value, an element
// of a slice the plan made or found, the target of a pointer. Nothing is
// written but values of the type the address holds.

// sliceHeader is a slice's layout.
type sliceHeader struct {
	data     unsafe.Pointer
	len, cap int
}

func decBoolP(d *fastDecoder, p unsafe.Pointer) error {
	c, err := d.peek()
	if err != nil {
		return err
	}
	switch c {
	case 0xc0, 0xc2:
		*(*bool)(p) = false
	case 0xc3:
		*(*bool)(p) = true
	default:
		return d.wrong("a boolean")
	}
	d.off++
	return nil
}

func decIntP(k reflect.Kind) func(d *fastDecoder, p unsafe.Pointer) error {
	return func(d *fastDecoder, p unsafe.Pointer) error {
		var i int64
		if !d.isNil() {
			var err error
			if i, err = d.intFor(k); err != nil {
				return err
			}
		}
		switch k {
		case reflect.Int:
			*(*int)(p) = int(i)
		case reflect.Int8:
			*(*int8)(p) = int8(i)
		case reflect.Int16:
			*(*int16)(p) = int16(i)
		case reflect.Int32:
			*(*int32)(p) = int32(i)
		default:
			*(*int64)(p) = i
		}
		return nil
	}
}

func decUintP(k reflect.Kind) func(d *fastDecoder, p unsafe.Pointer) error {
	return func(d *fastDecoder, p unsafe.Pointer) error {
		var u uint64
		if !d.isNil() {
			var err error
			if u, err = d.uintFor(k); err != nil {
				return err
			}
		}
		switch k {
		case reflect.Uint:
			*(*uint)(p) = uint(u)
		case reflect.Uint8:
			*(*uint8)(p) = uint8(u)
		case reflect.Uint16:
			*(*uint16)(p) = uint16(u)
		case reflect.Uint32:
			*(*uint32)(p) = uint32(u)
		default:
			*(*uint64)(p) = u
		}
		return nil
	}
}

func decFloatP(k reflect.Kind) func(d *fastDecoder, p unsafe.Pointer) error {
	return func(d *fastDecoder, p unsafe.Pointer) error {
		var f float64
		if !d.isNil() {
			var err error
			if f, err = d.floatFor(k); err != nil {
				return err
			}
		}
		if k == reflect.Float32 {
			*(*float32)(p) = float32(f)
		} else {
			*(*float64)(p) = f
		}
		return nil
	}
}

func decStringP(d *fastDecoder, p unsafe.Pointer) error {
	if d.isNil() {
		*(*string)(p) = ""
		return nil
	}
	start, end, err := d.strSpan()
	if err != nil {
		return d.wrong("a string")
	}
	*(*string)(p) = d.string(start, end)
	return nil
}

func decBytesP(d *fastDecoder, p unsafe.Pointer) error {
	bp := (*[]byte)(p)
	if d.isNil() {
		*bp = nil
		return nil
	}
	start, end, err := d.strSpan()
	if err != nil {
		return d.wrong("binary data or a string")
	}
	*bp = fillBytes(*bp, d.b[start:end])
	return nil
}

func decSliceP(t reflect.Type, ep *plan) func(d *fastDecoder, p unsafe.Pointer) error {
	size, alloc := t.Elem().Size(), sliceAlloc(t)
	empty := reflect.MakeSlice(t, 0, 0).UnsafePointer() // what msgpack gives for [], not nil
	return func(d *fastDecoder, p unsafe.Pointer) error {
		h := (*sliceHeader)(p)
		if d.isNil() {
			*h = sliceHeader{}
			return nil
		}
		n, ok := d.arrayLen()
		if !ok {
			return d.wrong("an array")
		}
		switch {
		case n == 0 && h.data == nil:
			*h = sliceHeader{data: empty}
		case h.cap >= n:
			h.len = n
		default:
			*h = sliceHeader{data: alloc(n), len: n, cap: n}
		}
		data := h.data
		for i := 0; i < n; i++ {
			if err := ep.decP(d, unsafe.Add(data, uintptr(i)*size)); err != nil {
				return under(err, "["+strconv.Itoa(i)+"]", 0)
			}
		}
		return nil
	}
}

// sliceAlloc returns a function that allocates the backing array of n
// elements of a slice of type t. Elements of the basic kinds, strings and
// pointers get an array of a type of the same size and pointer layout
// (the collector sees no difference), which make allocates in one step;
// reflect.MakeSlice also allocates a slice header.
func sliceAlloc(t reflect.Type) func(n int) unsafe.Pointer {
	switch t.Elem().Kind() {
	case reflect.String:
		return func(n int) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(make([]string, n))) }
	case reflect.Pointer:
		return func(n int) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(make([]unsafe.Pointer, n))) }
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8,
		reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		switch t.Elem().Size() {
		case 1:
			return func(n int) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(make([]uint8, n))) }
		case 2:
			return func(n int) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(make([]uint16, n))) }
		case 4:
			return func(n int) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(make([]uint32, n))) }
		case 8:
			return func(n int) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(make([]uint64, n))) }
		}
	}
	return func(n int) unsafe.Pointer { return reflect.MakeSlice(t, n, n).UnsafePointer() }
}

func decPtrP(t reflect.Type, ep *plan) func(d *fastDecoder, p unsafe.Pointer) error {
	et := t.Elem()
	return func(d *fastDecoder, p unsafe.Pointer) error {
		pp := (*unsafe.Pointer)(p)
		if d.isNil() {
			*pp = nil
			return nil
		}
		if *pp == nil {
			*pp = reflect.New(et).UnsafePointer()
		}
		return ep.decP(d, *pp)
	}
}

func encBoolP(b []byte, p unsafe.Pointer) []byte   { return AppendBool(b, *(*bool)(p)) }
func encStringP(b []byte, p unsafe.Pointer) []byte { return AppendString(b, *(*string)(p)) }
func encFloat32P(b []byte, p unsafe.Pointer) []byte {
	return AppendFloat32(b, *(*float32)(p))
}
func encFloat64P(b []byte, p unsafe.Pointer) []byte {
	return AppendFloat64(b, *(*float64)(p))
}

func encBytesP(b []byte, p unsafe.Pointer) []byte {
	s := *(*[]byte)(p)
	if s == nil {
		return AppendNil(b)
	}
	return AppendBin(b, s)
}

// loadInt reads the signed integer of kind k at p.
func loadInt(p unsafe.Pointer, k reflect.Kind) int64 {
	switch k {
	case reflect.Int:
		return int64(*(*int)(p))
	case reflect.Int8:
		return int64(*(*int8)(p))
	case reflect.Int16:
		return int64(*(*int16)(p))
	case reflect.Int32:
		return int64(*(*int32)(p))
	}
	return *(*int64)(p)
}

// loadUint reads the unsigned integer of kind k at p.
func loadUint(p unsafe.Pointer, k reflect.Kind) uint64 {
	switch k {
	case reflect.Uint:
		return uint64(*(*uint)(p))
	case reflect.Uint8:
		return uint64(*(*uint8)(p))
	case reflect.Uint16:
		return uint64(*(*uint16)(p))
	case reflect.Uint32:
		return uint64(*(*uint32)(p))
	}
	return *(*uint64)(p)
}

func encSliceP(t reflect.Type, ep *plan) func(b []byte, p unsafe.Pointer) []byte {
	size := t.Elem().Size()
	return func(b []byte, p unsafe.Pointer) []byte {
		h := *(*sliceHeader)(p)
		if h.data == nil {
			return AppendNil(b)
		}
		b = AppendArrayHeader(b, h.len)
		for i := 0; i < h.len; i++ {
			b = ep.encP(b, unsafe.Add(h.data, uintptr(i)*size))
		}
		return b
	}
}

func encPtrP(ep *plan) func(b []byte, p unsafe.Pointer) []byte {
	return func(b []byte, p unsafe.Pointer) []byte {
		q := *(*unsafe.Pointer)(p)
		if q == nil {
			return AppendNil(b)
		}
		return ep.encP(b, q)
	}
}

// scalarPlan returns the plan of a basic kind, or nil.
func scalarPlan(k reflect.Kind) *plan {
	switch k {
	case reflect.Bool:
		return &plan{enc: encBool, dec: decBool, encP: encBoolP, decP: decBoolP,
			emptyP: func(p unsafe.Pointer) bool { return !*(*bool)(p) }}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &plan{enc: encInt, dec: decInt, decP: decIntP(k),
			encP:   func(b []byte, p unsafe.Pointer) []byte { return AppendInt(b, loadInt(p, k)) },
			emptyP: func(p unsafe.Pointer) bool { return loadInt(p, k) == 0 }}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return &plan{enc: encUint, dec: decUint, decP: decUintP(k),
			encP:   func(b []byte, p unsafe.Pointer) []byte { return AppendUint(b, loadUint(p, k)) },
			emptyP: func(p unsafe.Pointer) bool { return loadUint(p, k) == 0 }}
	case reflect.Float32:
		return &plan{enc: encFloat32, dec: decFloat, encP: encFloat32P, decP: decFloatP(k),
			emptyP: func(p unsafe.Pointer) bool { return *(*float32)(p) == 0 }}
	case reflect.Float64:
		return &plan{enc: encFloat64, dec: decFloat, encP: encFloat64P, decP: decFloatP(k),
			emptyP: func(p unsafe.Pointer) bool { return *(*float64)(p) == 0 }}
	case reflect.String:
		return &plan{enc: encString, dec: decString, encP: encStringP, decP: decStringP,
			emptyP: func(p unsafe.Pointer) bool { return len(*(*string)(p)) == 0 }}
	}
	return nil
}

// slice, bytes and pointer emptiness.
func emptySliceP(p unsafe.Pointer) bool { return (*sliceHeader)(p).len == 0 }
func nilPtrP(p unsafe.Pointer) bool     { return *(*unsafe.Pointer)(p) == nil }

// reflectP gives a plan that works on reflect.Values (a map's) its address
// forms.
func reflectP(t reflect.Type, p *plan) *plan {
	p.decP = func(d *fastDecoder, a unsafe.Pointer) error { return p.dec(d, reflect.NewAt(t, a).Elem()) }
	p.encP = func(b []byte, a unsafe.Pointer) []byte { return p.enc(b, reflect.NewAt(t, a).Elem()) }
	p.emptyP = func(a unsafe.Pointer) bool { return isEmpty(reflect.NewAt(t, a).Elem()) }
	return p
}
