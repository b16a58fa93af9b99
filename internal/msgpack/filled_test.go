package msgpack

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vmsgpack "github.com/vmihailenco/msgpack/v5"
)

type filledElem struct {
	A int
	B string
}

type filled struct {
	Bytes  []byte
	Strs   []string
	Elems  []filledElem
	Ptr    *filledElem
	M      map[string]int
	In     filledElem
	Nums   []int16
	Nil    []string
	NilPtr *filledElem
}

// TestDecodeIntoFilledValues pins what the fast path does with a target
// that already holds values: a slice with room for the array keeps its
// backing array and decodes into its elements (a struct element keeps the
// fields the map does not name), a shorter one is replaced by a fresh
// slice; a non-nil pointer is decoded through; a map gains the pairs; a
// []byte with room is overwritten in place; nil empties.
func TestDecodeIntoFilledValues(t *testing.T) {
	bytesArr := make([]byte, 3, 16)
	strs := make([]string, 1, 4)
	elems := []filledElem{{A: 1, B: "keep"}, {A: 2, B: "keep2"}}
	nums := []int16{9}
	ptr := &filledElem{A: 5, B: "old"}
	v := filled{Bytes: bytesArr, Strs: strs, Elems: elems, Ptr: ptr, M: map[string]int{"old": 1},
		In: filledElem{A: 7, B: "in"}, Nums: nums, Nil: []string{"x"}, NilPtr: &filledElem{}}
	b, err := vmsgpack.Marshal(map[string]any{
		"Bytes":  []byte("new"),
		"Strs":   []string{"a", "b", "c"},
		"Elems":  []any{map[string]any{"A": 10}, map[string]any{"B": "new"}},
		"Ptr":    map[string]any{"A": 6},
		"M":      map[string]int{"new": 2},
		"In":     map[string]any{"B": "in2"},
		"Nums":   []int16{1, 2},
		"Nil":    nil,
		"NilPtr": nil,
	})
	require.NoError(t, err)
	require.NoError(t, NewDecoder().Decode(b, &v))

	assert.Equal(t, filled{Bytes: []byte("new"), Strs: []string{"a", "b", "c"},
		Elems: []filledElem{{A: 10, B: "keep"}, {A: 2, B: "new"}}, Ptr: &filledElem{A: 6, B: "old"},
		M: map[string]int{"old": 1, "new": 2}, In: filledElem{A: 7, B: "in2"}, Nums: []int16{1, 2}}, v)
	assert.Equal(t, unsafe.SliceData(bytesArr), unsafe.SliceData(v.Bytes), "a []byte with room is reused")
	assert.Equal(t, unsafe.SliceData(strs), unsafe.SliceData(v.Strs), "a slice with room is reused")
	assert.Equal(t, unsafe.SliceData(elems), unsafe.SliceData(v.Elems))
	assert.Equal(t, ptr, v.Ptr)
	assert.Same(t, ptr, v.Ptr, "a non-nil pointer is decoded through")
	assert.NotEqual(t, unsafe.SliceData(nums), unsafe.SliceData(v.Nums), "a slice without room is replaced")
	assert.Equal(t, int16(9), nums[0])
	assert.Nil(t, v.Nil)
	assert.Nil(t, v.NilPtr)

	var empty filled
	b, err = vmsgpack.Marshal(map[string]any{"Strs": []string{}, "Bytes": []byte{}, "Elems": nil})
	require.NoError(t, err)
	require.NoError(t, NewDecoder().Decode(b, &empty))
	assert.NotNil(t, empty.Strs, "[] gives an empty slice, not nil")
	assert.NotNil(t, empty.Bytes)
	assert.Nil(t, empty.Elems)
}
