package status

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/stretchr/testify/require"
)

// FuzzErrorReply sends a fuzzed *ferry.Error as an error response within
// a fuzzed limit (AppendErrorWithin), parses it as the peer does and
// decodes it (Decode): the response fits the limit and is one response
// with the call's id; the code (when the peer speaks the extensions) and
// the not-executed flag arrive intact; the message arrives whole when the
// response fits, otherwise cut, marked "…", never a broken rune; the
// details arrive intact when they fit the peer's bounds and the limit,
// otherwise not at all.
func FuzzErrorReply(f *testing.F) {
	f.Add(uint32(5), "no such key", "key", "k1", uint16(1), true, true, uint32(0), uint32(7))
	f.Add(uint32(8), "", "", "", uint16(0), true, true, uint32(0), uint32(1))
	f.Add(uint32(0), "plain", "", "", uint16(0), false, false, uint32(100), uint32(1<<32-1))
	f.Add(uint32(99), strings.Repeat("é", 700), "k", strings.Repeat("v", 300), uint16(3), true, true, uint32(10), uint32(2))
	f.Add(uint32(13), strings.Repeat("x", 70<<10), "k", "v", uint16(2000), false, true, uint32(5000), uint32(3))
	f.Add(uint32(3), strings.Repeat("日本", 400)+"\xff", "k", strings.Repeat("v", 70), uint16(1024), true, true, uint32(0), uint32(4))
	f.Fuzz(func(t *testing.T, code uint32, msg, key, val string, pairs uint16, notExec, ext bool, lim, id uint32) {
		fe := ferry.NewError(ferry.Code(code), msg)
		for i := range int(pairs) % 1200 {
			fe = fe.WithDetail(fmt.Sprint(key, i), val)
		}
		var err error = fe
		if notExec {
			err = ferry.MarkNotExecuted(fe)
		}
		max := wire.MinMaxMessage + int(lim%(128<<10))
		prefix := []byte{0x93, 0x02, 0xa1, 'x', 0x90} // a message queued before
		b := AppendErrorWithin(prefix[:len(prefix):len(prefix)], id, err, ext, max)
		require.Equal(t, prefix, b[:len(prefix)])
		out := b[len(prefix):]
		require.LessOrEqual(t, len(out), max, "the response passes the limit")
		whole := AppendError(nil, id, err, ext)
		if len(whole) <= max {
			// (as long: details go in map order, which varies)
			require.Len(t, out, len(whole), "a response that fits is sent whole")
		}

		m, perr := wire.Parse(out)
		require.NoError(t, perr)
		require.Equal(t, wire.TypeResponse, m.Type)
		require.Equal(t, id, m.ID)
		require.Equal(t, []byte{0xc0}, m.Result)
		require.Equal(t, ext, m.Ext != nil)
		got := Decode(m.Error, m.Ext, msgpack.NewDecoder())

		sent := ferry.FromError(err)
		wantCode := ferry.CodeUnknown
		if ext && sent.Code.Valid() {
			wantCode = sent.Code
		}
		require.Equal(t, wantCode, got.Code)
		require.Equal(t, ext && notExec, ferry.NotExecuted(got))
		wantMsg := sent.Message
		if wantMsg == "" {
			wantMsg = sent.Code.String()
		}
		if got.Message != wantMsg {
			cut, ok := strings.CutSuffix(got.Message, "…")
			require.True(t, ok, "a cut message is marked: %q", got.Message)
			require.True(t, strings.HasPrefix(wantMsg, cut), "a cut message is a prefix")
			if utf8.ValidString(wantMsg) {
				require.True(t, utf8.ValidString(got.Message), "a cut in a rune")
			}
		}
		// Details go when the peer keeps them (detailsFit) and the
		// response fits with them; the peer then has them all.
		if ext && len(sent.Details) > 0 && detailsFit(sent.Details) && len(whole) <= max {
			require.Equal(t, sent.Details, got.Details)
		} else {
			require.Empty(t, got.Details)
		}
	})
}

// FuzzDecodeError decodes an error field of any shape and an extension
// map of any bytes, as a peer's response carries them once its Reader has
// framed them (each one whole, bounded value): never a panic, a valid
// code, and a str or bin error field is the message as is.
func FuzzDecodeError(f *testing.F) {
	for _, s := range [][2][]byte{
		{{0xa4, 'b', 'o', 'o', 'm'}, {0x82, 0xa1, 'c', 0x05, 0xa1, 'n', 0xc3}},
		{{0x92, 0x00, 0xa3, 'E', '1', '2'}, nil},
		{{0x81, 0x01, 0x02}, {0x81, 0xa1, 'd', 0x81, 0xa1, 'k', 0xa1, 'v'}},
		{{0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 1}, {0x81, 0xa1, 'c', 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{{0xc4, 0x02, 0xff, 0xfe}, {0xc0}},
		{{0xd6, 0xff, 0, 0, 0, 1}, {0x81, 0xa1, 'c', 0xd0, 0xfb}},
		{{0x81, 0xa1, 'a', 0xcb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0}, {0x91, 0x01}},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, errField, ext []byte) {
		if n, err := msgpack.Validate(errField); err != nil || n != len(errField) {
			return
		}
		if ext != nil {
			if n, err := msgpack.Validate(ext); err != nil || n != len(ext) {
				return
			}
		}
		got := Decode(errField, ext, msgpack.NewDecoder())
		require.NotNil(t, got)
		require.True(t, got.Code.Valid(), "%d", got.Code)
		if s, err := msgpack.ReadStringBytes(errField); err == nil {
			require.Equal(t, string(s), got.Message)
		}
		if e, err := wire.ParseResponseExt(ext); ext != nil && err == nil {
			require.Equal(t, e.NotExecuted, ferry.NotExecuted(got))
			if len(e.Details) > 0 {
				require.Equal(t, e.Details, got.Details)
			}
		}
	})
}
