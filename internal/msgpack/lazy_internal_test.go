package msgpack

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDecoderMakesLibraryDecoderOnDemand: a Decoder whose values all take
// the fast path holds no msgpack library decoder (every connection's
// engine keeps a Decoder for its life); the first value the fast path
// declines makes one, and it decodes as before.
func TestDecoderMakesLibraryDecoderOnDemand(t *testing.T) {
	d := NewDecoder()
	var n int64
	require.NoError(t, d.Decode([]byte{0x2a}, &n))
	assert.Equal(t, int64(42), n)
	assert.Nil(t, d.dec, "a fast-path value needs no library decoder")
	var m any
	require.NoError(t, d.Decode([]byte{0x81, 0xa1, 'a', 0x01}, &m)) // {"a": 1}
	assert.Equal(t, map[string]any{"a": int64(1)}, m)
	assert.NotNil(t, d.dec, "a value the fast path declines made one")
	var m2 any
	require.NoError(t, d.Decode([]byte{0x81, 0xa1, 'b', 0x02}, &m2))
	assert.Equal(t, map[string]any{"b": int64(2)}, m2)
}
