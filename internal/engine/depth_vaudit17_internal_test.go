package engine

import (
	"reflect"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/codec"
	"github.com/stretchr/testify/assert"
)

type v17Flat struct {
	A, B int64
	S    string
	Bin  []byte
}

type v17Nested struct {
	Flat  v17Flat
	List  []v17Flat
	Index map[string][]int
	Ptr   *v17Flat
}

type v17Tree struct {
	Kids []v17Tree
}

type v17Custom struct{ X int }

func (*v17Custom) EncodeMsgpack() {}

type v17Stringer struct{ A int }

func (v17Stringer) String() string { return "" }

// TestVaudit17TypeDepth: the types whose values are never scanned for
// their depth are those whose nesting has a bound; everything that may
// encode in any shape is scanned (-1).
func TestVaudit17TypeDepth(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want int
	}{
		{int64(0), 0}, {"s", 0}, {[]byte("b"), 0}, {[4]byte{}, 0},
		{v17Flat{}, 1}, {&v17Flat{}, 1}, {[]v17Flat{}, 2},
		{v17Nested{}, 3}, {map[string]int{}, 1}, {[][]int{}, 2},
		{v17Tree{}, -1}, {[]any{}, -1}, {map[string]any{}, -1},
		{codec.Raw{}, -1}, {v17Custom{}, -1}, {&v17Custom{}, -1}, {time.Time{}, -1}, {struct{ E error }{}, -1},
		{v17Stringer{}, 1},
	} {
		assert.Equal(t, tc.want, typeDepth(reflect.TypeOf(tc.v)), "%T", tc.v)
	}
	assert.False(t, mayNest(v17Nested{}, 62))
	assert.True(t, mayNest(v17Nested{}, 2))
	assert.False(t, mayNest(nil, 0))
	assert.False(t, mayNest(Params{1, v17Flat{}}, 62))
	assert.True(t, mayNest(Params{1, []any{}}, 62))

	// A value from the message's second level on has levels 2 to 4 of 4.
	assert.False(t, tooDeep([]byte{0x91, 0x91, 0x91, 0x01}, 2, 4))
	assert.True(t, tooDeep([]byte{0x91, 0x91, 0x91, 0x91, 0x01}, 2, 4))
	assert.False(t, tooDeep([]byte{0x91, 0x91, 0x91, 0x90}, 2, 4), "an empty array adds no level")
}

// BenchmarkVaudit17MayNest: the cost a call pays for a type with a
// bound (nothing is scanned).
func BenchmarkVaudit17MayNest(b *testing.B) {
	v := &v17Nested{}
	for range b.N {
		mayNest(v, 62)
	}
}
