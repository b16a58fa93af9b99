package main

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview18ToJSONWithinLimit: toJSON's output is within
// jsonLimit(len(v)) for every v it renders (FuzzToJSON's property): a
// reply whose JSON, once its last element is written, holds exactly that
// many bytes is refused by the closing bracket, not printed one byte past
// the limit. The reply is an array of nested maps used as map keys (their
// text doubles at each level) padded with small integers, so that the
// text reaches the limit exactly at its last element.
func TestVreview18ToJSONWithinLimit(t *testing.T) {
	unlimited := func(v []byte) int {
		w := jsonWriter{limit: math.MaxInt}
		_, err := w.value(v)
		require.NoError(t, err)
		return len(w.out)
	}
	reply := func(key []byte, pad []byte) []byte {
		v := binary.BigEndian.AppendUint32([]byte{0xdd}, uint32(1+len(pad)))
		return append(append(v, key...), pad...)
	}
	key := []byte{0x81, 0xa1, 'a', 0x00} // {"a": 0}
	var excess int
	for range 40 {
		key = append(append([]byte{0x81}, key...), 0x00) // {key: 0}
		v := reply(key, nil)
		if excess = unlimited(v) - jsonLimit(len(v)); excess > 200 {
			break
		}
	}
	require.Greater(t, excess, 200)
	// Each padding element takes 16 bytes of limit and adds its digits and
	// a comma: 0 takes 14 away from the excess, 10 takes 13, 100 takes 12.
	// The excess ends at 1: the closing bracket.
	n := (excess - 1 + 13) / 14
	pad := make([]byte, n)
	for i, left := 0, excess-1-12*n; i < n; i++ {
		switch d := min(left, 2); d {
		case 2:
			pad[i] = 0
		case 1:
			pad[i] = 10
		default:
			pad[i] = 100
		}
		left -= min(left, 2)
	}
	v := reply(key, pad)
	require.Equal(t, jsonLimit(len(v))+1, unlimited(v), "the search")
	out, err := toJSON(v, jsonOptions{})
	if err == nil {
		assert.True(t, json.Valid(out))
	}
	assert.LessOrEqual(t, len(out), jsonLimit(len(v)), "%d bytes of MessagePack", len(v))
	assert.ErrorIs(t, err, errJSONSize)
}
