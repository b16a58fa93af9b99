package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// envelope builds [fields...] from raw msgpack values.
func envelope(fields ...[]byte) []byte {
	return cat(append([][]byte{msgpack.AppendArrayHeader(nil, len(fields))}, fields...)...)
}

func mpUint(v uint64) []byte { return msgpack.AppendUint(nil, v) }
func mpStr(v string) []byte  { return msgpack.AppendString(nil, v) }
func raw(b ...byte) []byte   { return b }

// cat joins byte slices.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// rep returns n copies of b.
func rep(b []byte, n int) []byte { return bytes.Repeat(b, n) }

func f32(v float32) []byte { return binary.BigEndian.AppendUint32([]byte{0xca}, math.Float32bits(v)) }
func f64(v float64) []byte { return binary.BigEndian.AppendUint64([]byte{0xcb}, math.Float64bits(v)) }

func TestParseRequest(t *testing.T) {
	params := raw(0x92, 0x01, 0x02)
	b := envelope(mpUint(0), mpUint(7), mpStr("Arith.Add"), params)
	m, err := Parse(b)
	require.NoError(t, err)
	assert.Equal(t, TypeRequest, m.Type)
	assert.Equal(t, uint32(7), m.ID)
	assert.Equal(t, "Arith.Add", string(m.Method))
	assert.Equal(t, params, m.Params)
	assert.Nil(t, m.Ext)
	assert.Nil(t, m.Error)
	assert.Nil(t, m.Result)
	// Fields alias the message.
	assert.Same(t, &b[len(b)-len(params)], &m.Params[0])

	ext := AppendRequestExt(nil, RequestExt{Timeout: 5})
	m, err = Parse(envelope(mpUint(0), mpUint(8), mpStr("a.b"), params, ext))
	require.NoError(t, err)
	assert.Equal(t, uint32(8), m.ID)
	assert.Equal(t, ext, m.Ext)

	// A nil ext is still present (non-nil raw value), so the peer is Ferry.
	m, err = Parse(envelope(mpUint(0), mpUint(8), mpStr("a.b"), params, raw(0xc0)))
	require.NoError(t, err)
	assert.Equal(t, raw(0xc0), m.Ext)
}

func TestParseResponse(t *testing.T) {
	m, err := Parse(envelope(mpUint(1), mpUint(9), raw(0xc0), mpUint(3)))
	require.NoError(t, err)
	assert.Equal(t, TypeResponse, m.Type)
	assert.Equal(t, uint32(9), m.ID)
	assert.Nil(t, m.Error)
	assert.Equal(t, mpUint(3), m.Result)
	assert.Nil(t, m.Method)
	assert.Nil(t, m.Params)

	ext := AppendResponseExt(nil, ResponseExt{Code: 3})
	m, err = Parse(envelope(mpUint(1), mpUint(9), mpStr("boom"), raw(0xc0), ext))
	require.NoError(t, err)
	assert.Equal(t, mpStr("boom"), m.Error)
	assert.Equal(t, raw(0xc0), m.Result)
	assert.Equal(t, ext, m.Ext)

	// A non-string error (some servers send [code, message]) is kept raw.
	errVal := raw(0x92, 0x01, 0xa1, 'x')
	m, err = Parse(envelope(mpUint(1), mpUint(1), errVal, raw(0xc0)))
	require.NoError(t, err)
	assert.Equal(t, errVal, m.Error)
}

func TestParseNotification(t *testing.T) {
	m, err := Parse(envelope(mpUint(2), mpStr("$ferry.goaway"), raw(0x90)))
	require.NoError(t, err)
	assert.Equal(t, TypeNotification, m.Type)
	assert.Equal(t, uint32(0), m.ID)
	assert.Equal(t, "$ferry.goaway", string(m.Method))
	assert.Equal(t, raw(0x90), m.Params)
	assert.Nil(t, m.Ext)

	m, err = Parse(envelope(mpUint(2), mpStr("n"), raw(0x91, 0x01), raw(0x80)))
	require.NoError(t, err)
	assert.Equal(t, raw(0x80), m.Ext)
}

func TestParseMsgID(t *testing.T) {
	good := []struct {
		name string
		id   []byte
		want uint32
	}{
		{"fixint 0", raw(0x00), 0},
		{"fixint 127", raw(0x7f), 127},
		{"uint8", raw(0xcc, 0xff), 255},
		{"uint8 small", raw(0xcc, 0x01), 1},
		{"uint16", raw(0xcd, 0xff, 0xff), 65535},
		{"uint16 small", raw(0xcd, 0x00, 0x02), 2},
		{"uint32", raw(0xce, 0xff, 0xff, 0xff, 0xff), math.MaxUint32},
		{"uint64 small", raw(0xcf, 0, 0, 0, 0, 0, 0, 0, 3), 3},
		{"uint64 max uint32", raw(0xcf, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff), math.MaxUint32},
		{"int8 positive", raw(0xd0, 0x05), 5},
		{"int16 positive", raw(0xd1, 0x01, 0x00), 256},
		{"int32 positive", raw(0xd2, 0x7f, 0xff, 0xff, 0xff), math.MaxInt32},
		{"int64 positive", raw(0xd3, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff), math.MaxUint32},
		{"float32 2^31", f32(1 << 31), 1 << 31},
		{"float32 3e9", f32(3e9), 3_000_000_000},
		{"float32 0", f32(0), 0},
		{"float64 2^31", f64(1 << 31), 1 << 31},
		{"float64 max uint32", f64(math.MaxUint32), math.MaxUint32},
		{"float64 small", f64(42), 42},
		{"float64 negative zero", f64(math.Copysign(0, -1)), 0},
	}
	for _, c := range good {
		t.Run(c.name, func(t *testing.T) {
			for _, b := range [][]byte{
				envelope(mpUint(0), c.id, mpStr("m"), raw(0x90)),
				envelope(mpUint(1), c.id, raw(0xc0), raw(0xc0)),
			} {
				m, err := Parse(b)
				require.NoError(t, err)
				assert.Equal(t, c.want, m.ID)
			}
		})
	}
	bad := map[string][]byte{
		"uint64 2^32":       raw(0xcf, 0, 0, 0, 1, 0, 0, 0, 0),
		"uint64 max":        raw(0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
		"int64 2^32":        raw(0xd3, 0, 0, 0, 1, 0, 0, 0, 0),
		"negfixint":         raw(0xff),
		"int8 negative":     raw(0xd0, 0xff),
		"int32 negative":    raw(0xd2, 0x80, 0, 0, 0),
		"int64 negative":    raw(0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
		"float32 2^32":      f32(1 << 32),
		"float64 2^32":      f64(1 << 32),
		"float64 1.5":       f64(1.5),
		"float64 -1":        f64(-1),
		"float64 NaN":       f64(math.NaN()),
		"float64 +Inf":      f64(math.Inf(1)),
		"float32 -Inf":      f32(float32(math.Inf(-1))),
		"float32 0.5":       f32(0.5),
		"nil":               raw(0xc0),
		"string":            mpStr("1"),
		"bool":              raw(0xc3),
		"array":             raw(0x91, 0x01),
		"fixext1 of an int": raw(0xd4, 0x00, 0x01),
	}
	for name, id := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(envelope(mpUint(0), id, mpStr("m"), raw(0x90)))
			assert.ErrorIs(t, err, ErrMalformed)
			_, err = Parse(envelope(mpUint(1), id, raw(0xc0), raw(0xc0)))
			assert.ErrorIs(t, err, ErrMalformed)
		})
	}
}

func TestParseMethodName(t *testing.T) {
	long := string(rep([]byte{'m'}, 300))
	names := map[string][]byte{
		"fixstr":     mpStr("Echo.Echo"),
		"empty str":  mpStr(""),
		"str8":       raw(0xd9, 0x03, 'a', '.', 'b'),
		"str16":      mpStr(long),
		"str32":      cat(raw(0xdb, 0, 0, 0, 3), []byte("a.b")),
		"bin8":       raw(0xc4, 0x03, 'a', '.', 'b'),
		"bin16":      cat(raw(0xc5, 0x01, 0x2c), []byte(long)),
		"bin32":      cat(raw(0xc6, 0, 0, 0, 3), []byte("a.b")),
		"non-ASCII":  mpStr("Σ.λ"),
		"invalid u8": raw(0xa2, 0xff, 0xfe),
	}
	for name, b := range names {
		t.Run(name, func(t *testing.T) {
			want, err := msgpack.ReadStringBytes(b)
			require.NoError(t, err)
			m, err := Parse(envelope(mpUint(0), mpUint(1), b, raw(0x90)))
			require.NoError(t, err)
			assert.Equal(t, want, m.Method)
			m, err = Parse(envelope(mpUint(2), b, raw(0x90)))
			require.NoError(t, err)
			assert.Equal(t, want, m.Method)
		})
	}
	for _, b := range [][]byte{mpUint(1), raw(0xc0), raw(0x91, 0xa1, 'm'), raw(0xd4, 0x00, 'm'), raw(0xc3)} {
		_, err := Parse(envelope(mpUint(0), mpUint(1), b, raw(0x90)))
		assert.ErrorIs(t, err, ErrMalformed, "% x", b)
	}
}

func TestParseRejects(t *testing.T) {
	cases := map[string][]byte{
		"empty":                  nil,
		"empty array":            raw(0x90),
		"type only":              envelope(mpUint(0)),
		"request of 3":           envelope(mpUint(0), mpUint(1), mpStr("m")),
		"request of 6":           envelope(mpUint(0), mpUint(1), mpStr("m"), raw(0x90), raw(0x80), raw(0xc0)),
		"response of 3":          envelope(mpUint(1), mpUint(1), raw(0xc0)),
		"response of 6":          envelope(mpUint(1), mpUint(1), raw(0xc0), raw(0xc0), raw(0x80), raw(0xc0)),
		"notification of 2":      envelope(mpUint(2), mpStr("m")),
		"notification of 5":      envelope(mpUint(2), mpStr("m"), raw(0x90), raw(0x80), raw(0xc0)),
		"type 3":                 envelope(mpUint(3), mpUint(1), mpStr("m"), raw(0x90)),
		"type 300":               envelope(mpUint(300), mpUint(1), mpStr("m"), raw(0x90)),
		"type 2^64-1":            envelope(raw(0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), mpStr("m"), raw(0x90)),
		"negative type":          envelope(raw(0xff), mpUint(1), mpStr("m"), raw(0x90)),
		"type as string":         envelope(mpStr("0"), mpUint(1), mpStr("m"), raw(0x90)),
		"type as float":          envelope(f64(0), mpUint(1), mpStr("m"), raw(0x90)),
		"trailing byte":          cat(envelope(mpUint(0), mpUint(1), mpStr("m"), raw(0x90)), raw(0x00)),
		"trailing message":       cat(envelope(mpUint(2), mpStr("m"), raw(0x90)), envelope(mpUint(2), mpStr("m"), raw(0x90))),
		"truncated field":        raw(0x94, 0x00, 0x01, 0xa1, 'm'),
		"truncated payload":      raw(0x94, 0x00, 0x01, 0xa1, 'm', 0xc4, 0x05, 0x01),
		"truncated header":       raw(0xdc, 0x00),
		"reserved byte in param": raw(0x94, 0x00, 0x01, 0xa1, 'm', 0x91, 0xc1),
		"array32 declared":       raw(0xdd, 0xff, 0xff, 0xff, 0xff, 0x00),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(b)
			require.Error(t, err)
			assert.True(t, errorsIsAny(err, ErrMalformed, ErrNotMessage), "%v", err)
		})
	}
	_, err := Parse(envelope(mpUint(300), mpUint(1), mpStr("m"), raw(0x90)))
	assert.ErrorContains(t, err, "300")
	_, err = Parse(raw(0x80))
	assert.ErrorIs(t, err, ErrNotMessage)
}

func TestParseLongForms(t *testing.T) {
	// Envelopes with array16/array32 headers and wide type encodings.
	body := cat(raw(0xcd, 0x00, 0x00), raw(0xce, 0, 0, 0, 5), mpStr("a.b"), raw(0xdc, 0x00, 0x01, 0xc0))
	for _, hdr := range [][]byte{raw(0xdc, 0x00, 0x04), raw(0xdd, 0, 0, 0, 4)} {
		m, err := Parse(cat(hdr, body))
		require.NoError(t, err)
		assert.Equal(t, TypeRequest, m.Type)
		assert.Equal(t, uint32(5), m.ID)
		assert.Equal(t, "a.b", string(m.Method))
		assert.Equal(t, raw(0xdc, 0x00, 0x01, 0xc0), m.Params)
	}
}

func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
