package message

import (
	"testing"

	"github.com/ferryrpc/ferry/codec"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKindsRoundTrip(t *testing.T) {
	for _, k := range Kinds() {
		t.Run(k.String(), func(t *testing.T) {
			b, err := k.Marshal()
			require.NoError(t, err)
			assert.InDelta(t, 580, len(b), 120, "encoded size")
			v, err := k.Unmarshal(b)
			require.NoError(t, err)
			assert.True(t, k.Same(v))
			assert.IsType(t, k.Zero(), v)
			got, err := ParseKind(k.String())
			require.NoError(t, err)
			assert.Equal(t, k, got)
		})
	}
	_, err := ParseKind("nope")
	assert.Error(t, err)
	assert.Equal(t, "Kind(7)", Kind(7).String())
}

// TestSameSeesEveryField changes one value per kind and checks that Same
// notices.
func TestSameSeesEveryField(t *testing.T) {
	m := New()
	m.Tags[1] = "x"
	assert.False(t, Default.Same(m))
	a := NewArray()
	a.Hash = ""
	assert.False(t, AsArray.Same(a))
	n := NewNumbers()
	n.Limits.Strict = true
	assert.False(t, NoStrings.Same(n))
	assert.False(t, Default.Same(NewArray()), "another kind's record")
	assert.False(t, NoStrings.Same((*Numbers)(nil)))
}

// TestArrayIsPositional checks that Array encodes as an array of its
// fields, not as a map, and carries Message's values.
func TestArrayIsPositional(t *testing.T) {
	b, err := AsArray.Marshal()
	require.NoError(t, err)
	assert.Equal(t, byte(0xdc), b[0], "array 16 header") // 33 fields
	var fields []any
	require.NoError(t, codec.Unmarshal(b, &fields))
	require.Len(t, fields, 33)
	assert.Equal(t, New().Name, fields[2])
	m, err := Default.Marshal()
	require.NoError(t, err)
	assert.Less(t, len(b), len(m), "no keys")
	assert.Equal(t, New(), FromArray(NewArray()))
}
