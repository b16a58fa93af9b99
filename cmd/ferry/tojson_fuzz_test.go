package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzToJSON renders arbitrary bytes the way `ferry call` renders a
// server's reply: those bytes come from the network, from any server the
// CLI is pointed at. Whatever they are, toJSON must return (no panic, no
// hang), and what it returns must be one valid JSON value within
// jsonLimit, indented or not. The round trip the CLI offers (a reply
// printed, then pasted back as params: fromJSON) reaches a fixed point
// after one trip: printing, encoding and printing again gives the same
// text.
func FuzzToJSON(f *testing.F) {
	for _, seed := range [][]byte{
		{0xc0}, {0xc3}, {0x7f}, {0xe0}, {0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		{0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0},
		{0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0},                 // NaN
		{0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0},                 // 1.0
		{0xca, 0x7f, 0x80, 0, 0},                             // +Inf as float32
		{0xa3, 'a', 0xff, 'c'},                               // invalid UTF-8
		{0xa2, '\\', 0x01},                                   // escapes
		{0xc4, 2, 0x00, 0xff},                                // bin
		{0xd6, 0xff, 0, 0, 0, 1},                             // timestamp 32
		{0xd7, 0xff, 0xff, 0xff, 0xff, 0xfc, 0, 0, 0, 1},     // timestamp 64, bad nanoseconds
		{0xc7, 12, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}, // timestamp 96
		{0xd4, 5, 1},                                         // another extension
		{0x82, 0xa1, 'a', 1, 0x01, 0xc0},                     // a map with a non-string key
		{0x81, 0x81, 0xa1, 'k', 0xc0, 0x90},                  // a map as a key
		{0x81, 0xc4, 1, 'x', 0x91, 0xc2},                     // a bin key
		{0x82, 0xa1, 'a', 1, 0xa1, 'a', 2},                   // a duplicate key
		{0x93, 0x01, 0x92, 0x02, 0x03, 0x80},
		{0xdd, 0xff, 0xff, 0xff, 0xff}, // a declared length far past the bytes
		{0x91},                         // truncated
		{0x01, 0x02},                   // trailing bytes
		{0xc1},                         // never used
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		for _, o := range []jsonOptions{{}, {bin: "hex", indent: true}, {bin: "string"}} {
			out, err := toJSON(v, o)
			if err != nil {
				assert.Nil(t, out)
				continue
			}
			require.True(t, json.Valid(out), "toJSON(%x, %+v) = %q: not JSON", v, o, out)
			if !o.indent {
				require.LessOrEqual(t, len(out), jsonLimit(len(v)))
			}
			if o.indent {
				continue
			}
			back, err := fromJSON(out)
			if errors.Is(err, errTooDeep) {
				continue // a map key printed as text is one level less deep; nothing else changes depth
			}
			require.NoError(t, err, "fromJSON of toJSON(%x) = %q", v, out)
			again, err := toJSON(back, o)
			require.NoError(t, err)
			// The first trip may change the text, not the value (U+FFFD
			// printed for invalid UTF-8 comes back as valid UTF-8 and
			// prints as itself); the second changes nothing.
			back, err = fromJSON(again)
			require.NoError(t, err)
			third, err := toJSON(back, o)
			require.NoError(t, err)
			require.True(t, bytes.Equal(again, third), "not a fixed point: %q, then %q, then %q", out, again, third)
		}
	})
}
