package msgpack

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOwnDropsTheLibraryPrefix: errors from the msgpack library reach
// Ferry's callers without its "msgpack: " prefix (STYLE: never another
// library's prefix), still matching the original with errors.Is; other
// errors pass unchanged.
func TestOwnDropsTheLibraryPrefix(t *testing.T) {
	orig := errors.New("msgpack: invalid code=c1 decoding int64")
	err := Own(orig)
	assert.EqualError(t, err, "invalid code=c1 decoding int64")
	assert.ErrorIs(t, err, orig)
	assert.Same(t, io.EOF, Own(io.EOF))
	assert.NoError(t, Own(nil))

	_, err = Marshal(make(chan int))
	require.Error(t, err)
	assert.False(t, strings.HasPrefix(err.Error(), "msgpack: "), "%v", err)

	// Through the library's decoder (a map of ints is not a fast-path
	// type): one prefix, Ferry's.
	var m map[string]int
	err = NewDecoder().Decode([]byte{0x81, 0xa1, 'a', 0xa1, 'b'}, &m)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrDecode)
	assert.NotContains(t, err.Error(), ": msgpack: ")
}
