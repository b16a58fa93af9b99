package msgpack

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vmsgpack "github.com/vmihailenco/msgpack/v5"
)

// The plans' address forms (ptr.go) against msgpack, for every kind they
// load and store: named types of each basic kind, slices of each element
// kind (each allocated its own way), pointers, maps, structs by value and
// by pointer, and the unexported embedded fields that keep reflect's
// rules.

type (
	aBool    bool
	aInt     int
	aInt8    int8
	aInt16   int16
	aInt32   int32
	aUint    uint
	aUint16  uint16
	aUint32  uint32
	aUint64  uint64
	aFloat32 float32
	aStr     string
	aBytes   []byte
)

type addrKinds struct {
	B   aBool
	I   aInt
	I8  aInt8
	I16 aInt16
	I32 aInt32
	U   aUint
	U16 aUint16
	U32 aUint32
	U64 aUint64
	F32 aFloat32
	F64 float64
	S   aStr
	Bs  aBytes
}

type addrSlices struct {
	Bools   []bool
	I8s     []int8
	I16s    []aInt16
	I32s    []int32
	I64s    []int64
	Us      []uint
	U16s    []aUint16 `msgpack:"u16s"`
	F32s    []float32
	F64s    []float64
	Strs    []aStr
	Bytes   [][]byte
	Ptrs    []*addrKinds
	Structs []addrKinds
	Nested  [][]string
	Maps    []map[string]aInt8
}

type addrPtrs struct {
	P   *int16
	PP  **aStr
	PS  *addrSlices
	M   map[string]*addrKinds
	MS  map[aStr][]string
	Arr struct {
		//lint:ignore U1000 msgpack reads the tag
		_msgpack struct{} `msgpack:",as_array"`
		X        float32
		Y        []uint8
		Z        *bool
	}
}

type addrOmit struct {
	//lint:ignore U1000 msgpack reads the tag
	_msgpack struct{} `msgpack:",omitempty"`
	B        bool
	I8       int8
	U32      uint32
	F32      float32
	F64      float64
	S        string
	Bs       []byte
	Sl       []string
	P        *int
	M        map[string]int
	K        addrKinds            // never empty: its fields are not omitempty
	In       struct{ A, B int16 } `msgpack:",omitempty"`
}

// addrHidden is embedded unexported, as a struct.
type addrHidden struct {
	H1 int
	H2 string
}

// addrNum is embedded unexported, as a number: reflect cannot set it.
//
//lint:ignore U1000 the codecs read it
type addrNum int

type addrRO struct {
	addrHidden `msgpack:",noinline"`
	//lint:ignore U1000 the codecs read it
	addrNum
	*addrInner `msgpack:",noinline"`
	Last       string
}

type addrInner struct{ N int8 }

var addrTypes = []reflect.Type{reflect.TypeFor[addrKinds](), reflect.TypeFor[addrSlices](), reflect.TypeFor[addrPtrs](),
	reflect.TypeFor[addrOmit](), reflect.TypeFor[addrRO]()}

// decodeBoth decodes b into a new value of typ with dec and with msgpack. (Into values already filled the two differ, as they always
// have: msgpack keeps a []string when it decodes nil into it, and the
// elements of a slice it grows; TestDecodeIntoFilledValues pins the fast
// path's rules.)
func decodeBoth(dec *Decoder, typ reflect.Type, b []byte) (fast, slow reflect.Value, ferr, serr error) {
	fast, slow = reflect.New(typ), reflect.New(typ)
	ferr = dec.Decode(b, fast.Interface())
	func() {
		defer func() {
			if recover() != nil {
				serr = ErrDecode
			}
		}()
		serr = vmsgpack.Unmarshal(b, slow.Interface())
	}()
	return fast, slow, ferr, serr
}

// TestAddressFormsMatchMsgpack: random values of each type encode to
// msgpack's bytes, by pointer and by value, and decode to msgpack's
// values, into zero values and into values already filled.
func TestAddressFormsMatchMsgpack(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	dec := NewDecoder() // one for all, as the engine keeps one per connection
	for _, typ := range addrTypes {
		require.NotNil(t, planFor(typ).p, "%v", typ)
		for i := 0; i < 300; i++ {
			v := reflect.New(typ)
			fill(r, v.Elem(), 0)
			want, err := refMarshal(v.Interface())
			require.NoError(t, err)
			got, ok := AppendFast(nil, v.Interface())
			require.True(t, ok)
			require.Equal(t, want, got, "%v %+v", typ, v.Elem())
			got, ok = AppendFast(nil, v.Elem().Interface()) // by value: no address
			require.True(t, ok)
			require.Equal(t, want, got, "%v by value", typ)

			fast, slow, ferr, serr := decodeBoth(dec, typ, want)
			if typ == reflect.TypeFor[addrRO]() { // reflect refuses to set addrNum
				require.Error(t, ferr)
				require.Error(t, serr)
				continue
			}
			require.NoError(t, ferr, "%v % x", typ, want)
			require.NoError(t, serr)
			require.Equal(t, slow.Interface(), fast.Interface(), "%v % x", typ, want)
		}
	}
}

// TestAddressUnexportedEmbedded: an unexported embedded field still
// decodes as reflect allows: a struct's fields are set, nil into the
// struct is refused, and a number or a nil pointer cannot be set.
func TestAddressUnexportedEmbedded(t *testing.T) {
	for _, c := range []struct {
		wire any
		ok   bool // msgpack also takes the map cases, and refuses the others but nil into the pointer
	}{
		{map[string]any{"addrHidden": map[string]any{"H1": 4, "H2": "x"}, "Last": "l"}, true},
		{map[string]any{"addrHidden": nil}, false},
		{map[string]any{"addrNum": 3}, false},
		{map[string]any{"addrNum": nil}, false},
		{map[string]any{"addrInner": map[string]any{"N": 1}}, false},
		{map[string]any{"addrInner": nil}, false},
		{[]any{map[string]any{"H1": 1}}, true}, // msgpack refuses a short array
		{[]any{nil}, false},
	} {
		b, err := vmsgpack.Marshal(c.wire)
		require.NoError(t, err)
		fast, slow, ferr, serr := decodeBoth(NewDecoder(), reflect.TypeFor[addrRO](), b)
		if !c.ok {
			assert.ErrorIs(t, ferr, ErrDecode, "%v", c.wire)
			continue
		}
		require.NoError(t, ferr, "%v", c.wire)
		if serr == nil {
			assert.Equal(t, slow.Interface(), fast.Interface(), "%v", c.wire)
		}
	}

	// A Decoder that recovered from reflect's panic decodes the next
	// value's strings from that value.
	// The second value's "zzzzz" (bytes 12 to 17) lies where the first
	// one's window (from "first value", byte 7, on) was.
	d := NewDecoder()
	b := append(append([]byte{0x82, 0xa4}, "Last\xabfirst value\xa7addrNum"...), 0x01)
	require.ErrorIs(t, d.Decode(b, new(addrRO)), ErrDecode)
	var next struct{ LongName1 string }
	b = append([]byte{0x81, 0xa9}, "LongName1\xa5zzzzz"...)
	require.NoError(t, d.Decode(b, &next))
	assert.Equal(t, "zzzzz", next.LongName1)

	// Through a pointer already set, the pointed-to struct's fields are
	// set, as reflect allows.
	b, err := vmsgpack.Marshal(map[string]any{"addrInner": map[string]any{"N": 5}})
	require.NoError(t, err)
	v := addrRO{addrInner: &addrInner{N: 1}}
	require.NoError(t, NewDecoder().Decode(b, &v))
	assert.Equal(t, int8(5), v.N)
}

// TestDecodedValuesOwnTheirMemory: no decoded string or byte slice refers
// to the input, and a string shares memory only within one window of
// stringWindow bytes.
func TestDecodedValuesOwnTheirMemory(t *testing.T) {
	long := strings.Repeat("x", 3*stringWindow)
	in := addrSlices{Strs: []aStr{"a", "bc", aStr(long), "d", aStr(long[:stringWindow-1]), "e", "f"},
		Bytes: [][]byte{[]byte("bytes"), {}, nil}}
	for range 3 * stringWindow / 8 {
		in.Strs = append(in.Strs, "12345")
	}
	b, err := vmsgpack.Marshal(&in)
	require.NoError(t, err)
	orig := bytes.Clone(b)

	var out addrSlices
	require.NoError(t, NewDecoder().Decode(b, &out))
	inside := func(p unsafe.Pointer) bool {
		return uintptr(p) >= uintptr(unsafe.Pointer(&b[0])) && uintptr(p) < uintptr(unsafe.Pointer(&b[0]))+uintptr(len(b))
	}
	for i, s := range out.Strs {
		assert.False(t, inside(unsafe.Pointer(unsafe.StringData(string(s)))), "string %d", i)
	}
	for i, s := range out.Bytes {
		if len(s) > 0 {
			assert.False(t, inside(unsafe.Pointer(&s[0])), "bytes %d", i)
		}
	}
	for i := range b {
		b[i] = 0xff // the decoded value must not change
	}
	var want addrSlices
	require.NoError(t, vmsgpack.Unmarshal(orig, &want))
	assert.Equal(t, want, out)

	// A string is cut from the window (one allocation of at most
	// stringWindow bytes) or, when longer, is its own copy.
	d := &fastDecoder{b: orig}
	base := func(s string) uintptr { return uintptr(unsafe.Pointer(unsafe.StringData(s))) }
	strs := 0
	for off := 0; off < len(orig); {
		d.off = off
		if start, end, err := d.strSpan(); err == nil && end > start {
			s := d.string(start, end)
			assert.Equal(t, string(orig[start:end]), s)
			if len(s) < stringWindow {
				assert.LessOrEqual(t, len(d.window), stringWindow)
				assert.True(t, base(s) >= base(d.window) && base(s)+uintptr(len(s)) <= base(d.window)+uintptr(len(d.window)))
			} else {
				assert.NotEqual(t, base(d.window), base(s))
			}
			off, strs = end, strs+1
			continue
		}
		_, n, ok := ArrayLen(orig[off:]) // step into containers
		if !ok {
			_, n, ok = MapLen(orig[off:])
		}
		if !ok {
			n, err = Skip(orig[off:])
			require.NoError(t, err)
		}
		off += n
	}
	assert.Greater(t, strs, 100)
}

// FuzzAddressAgree: on any valid msgpack, when Ferry's Decoder and
// msgpack both decode it into one of the address-form types, they agree,
// and the fast path's encoding of the result is msgpack's.
func FuzzAddressAgree(f *testing.F) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, typ := range addrTypes {
		v := reflect.New(typ)
		fill(r, v.Elem(), 0)
		b, err := refMarshal(v.Interface())
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte{0x81, 0xa4, 'S', 't', 'r', 's', 0x92, 0xa1, 'a', 0xc4, 0x01, 'b'})
	f.Add([]byte{0x81, 0xa4, 'P', 't', 'r', 's', 0x92, 0xc0, 0x80})
	dec := NewDecoder() // one for all, as the engine keeps one per connection
	f.Fuzz(func(t *testing.T, b []byte) {
		if n, err := Validate(b); err != nil || n != len(b) {
			return
		}
		for _, typ := range addrTypes {
			fast, slow, ferr, serr := decodeBoth(dec, typ, b)
			if ferr != nil || serr != nil {
				continue
			}
			want, err := refMarshal(slow.Interface())
			require.NoError(t, err)
			if !assert.ObjectsAreEqual(slow.Interface(), fast.Interface()) { // a NaN never equals itself: compare bits
				fastBits, err := refMarshal(fast.Interface())
				require.NoError(t, err)
				require.Equal(t, want, fastBits, "%v % x", typ, b)
			}
			got, _ := AppendFast(nil, fast.Interface())
			require.Equal(t, want, got)
		}
	})
}
