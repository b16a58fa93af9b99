package wire

import (
	"bytes"
	"io"
	"testing"

	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vmsgpack "github.com/vmihailenco/msgpack/v5"
)

// fuzzSeeds are messages and bombs shared by the wire fuzz targets; the
// same inputs are committed under testdata/fuzz.
func fuzzSeeds() [][]byte {
	return [][]byte{
		msgReq, msgNotify, msgResp,
		cat(msgReq, msgNotify, msgResp),
		envelope(mpUint(0), mpUint(1), mpStr("Arith.Add"), raw(0x91, 0x82, 0xa1, 'A', 0x01, 0xa1, 'B', 0x02),
			AppendRequestExt(nil, RequestExt{Timeout: 1e9, Metadata: map[string]string{"k": "v"}})),
		envelope(mpUint(1), f64(1<<31), mpStr("boom"), raw(0xc0),
			AppendResponseExt(nil, ResponseExt{Code: 3, Details: map[string]string{"a": "b"}, NotExecuted: true})),
		envelope(mpUint(2), raw(0xc4, 0x01, 'n'), raw(0x90), raw(0xc0)),
		{0xdd, 0xff, 0xff, 0xff, 0xff},
		{0xdf, 0xff, 0xff, 0xff, 0xff},
		{0x94, 0x00, 0x01, 0xa1, 'm', 0x91, 0xc6, 0xff, 0xff, 0xff, 0xff},
		{0x94, 0x00, 0x01, 0xa1, 'm', 0x91, 0xdb, 0xff, 0xff, 0xff, 0xff},
		cat([]byte{0x94, 0x00, 0x01, 0xa1, 'm'}, rep([]byte{0x91}, 2000)),
		rep([]byte{0xdc, 0xff, 0xff}, 100),
		{0xc1},
		{0x93, 0x02, 0xa1, 'n', 0x91, 0xd8, 0x01},
	}
}

// FuzzReader frames arbitrary bytes with small limits, once from a single
// buffer and once in small chunks, and checks both agree and every message
// is one bounded value.
func FuzzReader(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s, uint16(256), uint8(8), uint8(1))
		f.Add(s, uint16(4096), uint8(64), uint8(7))
	}
	f.Fuzz(func(t *testing.T, data []byte, maxMsg uint16, maxDepth uint8, chunk uint8) {
		lim := Limits{MaxMessage: 1 + int(maxMsg)%8192, MaxDepth: 1 + int(maxDepth)%70}
		whole := NewReader(bytes.NewReader(data), lim)
		msgs, err := fuzzReadAll(t, whole, lim)

		var chunks [][]byte
		for rest, n := data, 1+int(chunk)%16; len(rest) > 0; rest = rest[min(n, len(rest)):] {
			chunks = append(chunks, rest[:min(n, len(rest))])
		}
		split := NewReader(&chunkReader{chunks: chunks}, lim)
		msgs2, err2 := fuzzReadAll(t, split, lim)

		require.Equal(t, msgs, msgs2, "framing depends on how the bytes arrived")
		require.Equal(t, errString(err), errString(err2))
	})
}

func fuzzReadAll(t *testing.T, r *Reader, lim Limits) ([][]byte, error) {
	var out [][]byte
	for {
		m, err := r.Next()
		// Memory is bounded by the limit whatever was declared.
		require.LessOrEqual(t, cap(r.buf), max(lim.MaxMessage+16, 1))
		require.LessOrEqual(t, r.sc.Depth(), lim.MaxDepth)
		if err != nil {
			if err != io.EOF && err != io.ErrUnexpectedEOF {
				require.True(t, errorsIsAny(err, ErrTooLarge, ErrTooDeep, ErrMalformed, ErrNotMessage), "%v", err)
			}
			return out, err
		}
		require.LessOrEqual(t, len(m), lim.MaxMessage)
		require.Equal(t, len(m), cap(m))
		require.True(t, msgpack.IsArrayHeader(m[0]))
		l, err := msgpack.Skip(m)
		require.NoError(t, err)
		require.Equal(t, len(m), l, "a message is exactly one value")
		// Elements are where a walk finds the message's elements.
		n, off, _ := msgpack.ArrayLen(m)
		at := r.Elements()
		require.Len(t, at, min(n, 6))
		for i := range at {
			require.Equal(t, int32(off), at[i], "element %d", i)
			l, err := msgpack.Skip(m[off:])
			require.NoError(t, err)
			off += l
		}
		// msgpack's own decoder agrees on where the value ends; this is
		// safe only because the Reader validated it.
		src := bytes.NewReader(m)
		require.NoError(t, vmsgpack.NewDecoder(src).Skip())
		require.Equal(t, 0, src.Len())
		out = append(out, bytes.Clone(m))
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// FuzzParse parses whatever a Reader accepts (and the raw input), runs the
// extension parsers on it, and re-encodes what parsed to check it reads
// back the same.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Raw input: none of these may panic, whatever the bytes.
		_, _ = Parse(data)
		_, _ = ParseRequestExt(data)
		_, _ = ParseResponseExt(data)
		_, _ = msgpack.ReadStringBytes(data)
		_, _, _ = msgpack.ArrayLen(data)
		_, _ = msgpack.Skip(data)

		r := NewReader(bytes.NewReader(data), Limits{MaxMessage: 1 << 16, MaxDepth: 32})
		for {
			b, err := r.Next()
			if err != nil {
				return
			}
			m, err := Parse(b)
			// Cut where the Reader found the elements, the message
			// parses the same as when walked.
			ms, errS := ParseScanned(b, r.Elements())
			require.Equal(t, errString(err), errString(errS))
			if err != nil {
				require.True(t, errorsIsAny(err, ErrMalformed, ErrNotMessage), "%v", err)
				continue
			}
			require.Equal(t, m, ms)
			checkParsed(t, b, m)
		}
	})
}

// checkParsed verifies a parsed message's fields and that re-encoding them
// parses to the same message.
func checkParsed(t *testing.T, b []byte, m Message) {
	for _, field := range [][]byte{m.Params, m.Error, m.Result, m.Ext} {
		if field == nil {
			continue
		}
		l, err := msgpack.Skip(field)
		require.NoError(t, err)
		require.Equal(t, len(field), l)
		require.True(t, bytes.Contains(b, field))
	}
	n := 4
	if m.Type == TypeNotification {
		n = 3
	}
	if m.Ext != nil {
		n++
	}
	out := msgpack.AppendUint(msgpack.AppendArrayHeader(nil, n), uint64(m.Type))
	switch m.Type {
	case TypeRequest:
		out = append(msgpack.AppendString(msgpack.AppendUint(out, uint64(m.ID)), string(m.Method)), m.Params...)
	case TypeNotification:
		out = append(msgpack.AppendString(out, string(m.Method)), m.Params...)
	case TypeResponse:
		out = msgpack.AppendUint(out, uint64(m.ID))
		if m.Error == nil {
			out = msgpack.AppendNil(out)
		} else {
			out = append(out, m.Error...)
		}
		out = append(out, m.Result...)
	default:
		t.Fatalf("parsed an unknown type %d", m.Type)
	}
	out = append(out, m.Ext...)
	m2, err := Parse(out)
	require.NoError(t, err)
	require.Equal(t, m, m2)

	if m.Ext == nil {
		return
	}
	if re, err := ParseRequestExt(m.Ext); err == nil {
		re2, err := ParseRequestExt(AppendRequestExt(nil, RequestExt{Timeout: re.Timeout, Metadata: re.Incoming.Map()}))
		require.NoError(t, err)
		assert.Equal(t, re.Timeout, re2.Timeout)
		assert.Equal(t, re.Incoming.Map(), re2.Incoming.Map())
	}
	if se, err := ParseResponseExt(m.Ext); err == nil {
		se2, err := ParseResponseExt(AppendResponseExt(nil, se))
		require.NoError(t, err)
		if len(se.Details) == 0 {
			se.Details = nil
		}
		assert.Equal(t, se, se2)
	}
}

// FuzzReaderDirect frames arbitrary bytes with direct bodies on (a small
// threshold, in small chunks), reads, skips or takes whole each head as
// the fuzzer says, and checks that head, body and rest put together are
// the messages a plain Reader returns, ending with the same kind of error.
func FuzzReaderDirect(f *testing.F) {
	req, resp, bare, _, _ := directMsgs(40)
	for _, s := range append(fuzzSeeds(), req, resp, bare, cat(req, msgReq, resp, bare),
		envelope(mpUint(0), mpUint(1), mpStr("m"), cat(raw(0x91), binOf(40)), rep([]byte{0x91}, 70)),
		envelope(mpUint(0), mpUint(1), mpStr("m"), cat(raw(0x91), binOf(40)), raw(0xdf, 0xff, 0xff, 0xff, 0xff)),
		req[:len(req)-3], resp[:30],
		// small, large and small pipelined; a response with extensions;
		// params [bin, x]; a float msgid; extensions cut short
		cat(msgReq, req, msgReq, bare, resp, msgReq),
		envelope(mpUint(1), mpUint(9), raw(0xc0), binOf(40), raw(0x81, 0xa1, 'k', 0xa1, 'v')),
		envelope(mpUint(0), mpUint(1), mpStr("m"), cat(raw(0x92), binOf(40), mpUint(1))),
		envelope(mpUint(0), raw(0xcb, 0x41, 0xe0, 0, 0, 0, 0, 0, 0), mpStr("m"), binOf(40), raw(0x80)),
		envelope(mpUint(0), mpUint(1), mpStr("m"), binOf(40), raw(0x81, 0xa1))) {
		f.Add(s, uint16(256), uint8(8), uint8(3), uint8(0))
		f.Add(s, uint16(4096), uint8(64), uint8(7), uint8(0xb6))
	}
	f.Fuzz(func(t *testing.T, data []byte, maxMsg uint16, maxDepth uint8, chunk uint8, mode uint8) {
		lim := Limits{MaxMessage: 1 + int(maxMsg)%8192, MaxDepth: 1 + int(maxDepth)%70}
		msgs, err := fuzzReadAll(t, NewReader(bytes.NewReader(data), lim), lim)

		r := NewReader(&chunkReader{chunks: chunksOf(data, 1+int(chunk)%16)}, lim)
		r.SetDirect(1 + int(chunk)%32)
		acct := &limitAccount{limit: 1 << 30}
		r.SetAccount(acct)
		defer func() {
			r.Close()
			require.Zero(t, acct.used, "charges left")
		}()
		var got [][]byte
		var err2 error
		skipped := map[int]bool{}
		for i := 0; ; i++ {
			b, err := r.Next()
			if err != nil {
				err2 = err
				break
			}
			require.LessOrEqual(t, cap(r.buf), max(lim.MaxMessage+16, 1))
			if r.Body() == 0 {
				got = append(got, bytes.Clone(b))
				continue
			}
			h, ok := ParseHead(b)
			require.True(t, ok)
			require.Equal(t, h.Body, r.Body())
			require.LessOrEqual(t, h.Len+h.Body, lim.MaxMessage)
			head := bytes.Clone(b)
			code := (mode >> (i % 4 * 2)) & 3
			switch code {
			case 0, 1: // read, or (1) read until the second read, then skipped
				body := bytes.Repeat([]byte{0xa5}, h.Body) // not what a short read leaves
				reads := 0
				keep := func() bool { reads++; return code == 0 || reads < 2 }
				rest, filled, err := r.ReadBodyWhile(body, keep)
				if err != nil {
					err2 = err
					break
				}
				require.Equal(t, head, r.Head())
				if !filled {
					skipped[i] = true
					break
				}
				got = append(got, cat(head, body, rest))
			case 2: // skipped by the next Next
				skipped[i] = true
			case 3:
				b, err := r.Whole()
				if err != nil {
					err2 = err
					break
				}
				require.True(t, bytes.HasPrefix(b, head))
				got = append(got, bytes.Clone(b))
			}
			if err2 != nil {
				break
			}
		}
		var want [][]byte // what was not skipped
		for i, m := range msgs {
			if !skipped[i] {
				want = append(want, m)
			}
		}
		require.Equal(t, want, got)
		require.Equal(t, errorsIsAny(err, io.EOF), errorsIsAny(err2, io.EOF), "%v / %v", err, err2)
		for _, e := range []error{io.ErrUnexpectedEOF, ErrTooLarge, ErrTooDeep, ErrMalformed, ErrNotMessage} {
			require.Equal(t, errorsIsAny(err, e), errorsIsAny(err2, e), "%v / %v", err, err2)
		}
	})
}
