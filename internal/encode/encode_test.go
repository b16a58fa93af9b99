package encode_test

import (
	"bytes"
	"testing"

	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/internal/encode"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

type plain struct {
	A int
	B string
}

type custom struct{ fail bool }

func (c custom) EncodeMsgpack(enc *msgpack.Encoder) error {
	if c.fail {
		panic("boom")
	}
	return enc.EncodeString("custom")
}

// TestAppend: values append after what b holds, by the fast path or by
// msgpack, and decode back.
func TestAppend(t *testing.T) {
	e := encode.New()
	for _, v := range []any{plain{1, "x"}, custom{}, []any{1, "a"}, nil, map[string]int{"k": 1}} {
		b, err := e.Append([]byte("head"), v)
		require.NoError(t, err)
		require.Equal(t, "head", string(b[:4]))
		want, err := codec.Marshal(v)
		require.NoError(t, err)
		assert.Equal(t, want, b[4:], "%T", v)
	}
}

// TestAppendPanic: a panic in a custom encoder is an error; the bytes
// before are kept.
func TestAppendPanic(t *testing.T) {
	e := encode.New()
	b, err := e.Append([]byte("head"), custom{fail: true})
	require.ErrorContains(t, err, "panic while encoding encode_test.custom: boom")
	assert.Equal(t, "head", string(b[:4]))
	b, err = e.Append(b[:4], plain{2, "y"}) // still usable
	require.NoError(t, err)
	var out plain
	require.NoError(t, codec.Unmarshal(b[4:], &out))
	assert.Equal(t, plain{2, "y"}, out)
}

// TestAppendBigPayload: a large byte payload grows the buffer in one step.
func TestAppendBigPayload(t *testing.T) {
	e := encode.New()
	payload := bytes.Repeat([]byte{1}, 200<<10)
	b, err := e.Append([]byte("head"), payload)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, cap(b), len(payload)+4)
	var out []byte
	require.NoError(t, codec.Unmarshal(b[4:], &out))
	assert.Equal(t, payload, out)
}
