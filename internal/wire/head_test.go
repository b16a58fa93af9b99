package wire

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// binOf returns a bin32 value of n patterned bytes.
func binOf(n int) []byte {
	b := []byte{0xc6, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	for i := range n {
		b = append(b, byte(i*7+i>>8))
	}
	return b
}

// directMsgs are a request with params [bin] and extensions, a response
// with a bin result, a request with bare bin params, and their bodies.
func directMsgs(n int) (req, resp, bare []byte, ext []byte, body []byte) {
	bin := binOf(n)
	ext = AppendRequestExt(nil, RequestExt{Timeout: 1e9, Metadata: map[string]string{"k": "v"}})
	req = envelope(mpUint(0), mpUint(7), mpStr("Bench.Bulk"), cat(raw(0x91), bin), ext)
	resp = envelope(mpUint(1), mpUint(7), raw(0xc0), bin)
	bare = envelope(mpUint(0), mpUint(300), mpStr("B.b"), bin)
	return req, resp, bare, ext, bin[5:]
}

func TestParseHead(t *testing.T) {
	req, resp, bare, _, _ := directMsgs(1000)
	h, ok := ParseHead(req[:40])
	require.True(t, ok)
	assert.Equal(t, TypeRequest, h.Type)
	assert.Equal(t, uint32(7), h.ID)
	assert.Equal(t, "Bench.Bulk", string(h.Method))
	assert.Equal(t, 1000, h.Body)
	assert.True(t, h.Wrapped)
	assert.True(t, h.HasExt)
	assert.Equal(t, bytes.Index(req, binOf(1000))+5, h.Len)

	h, ok = ParseHead(resp)
	require.True(t, ok)
	assert.Equal(t, Head{Message: Message{Type: TypeResponse, ID: 7}, Len: 9, Body: 1000}, h)

	h, ok = ParseHead(bare[:20])
	require.True(t, ok)
	assert.Equal(t, uint32(300), h.ID)
	assert.False(t, h.Wrapped)
	assert.False(t, h.HasExt)

	for name, b := range map[string][]byte{
		"cut in the bin header": req[:bytes.Index(req, binOf(1000))+3],
		"str params":            envelope(mpUint(0), mpUint(1), mpStr("m"), raw(0x91, 0xa1, 'x')),
		"two params":            envelope(mpUint(0), mpUint(1), mpStr("m"), cat(raw(0x92), binOf(3), raw(0xc0))),
		"notification":          envelope(mpUint(2), mpStr("m"), binOf(3)),
		"error response":        envelope(mpUint(1), mpUint(1), mpStr("boom"), binOf(3)),
		"negative id":           envelope(mpUint(0), raw(0xff), mpStr("m"), binOf(3)),
		"three elements":        envelope(mpUint(1), mpUint(1), binOf(3)),
		"not an array":          binOf(3),
		"empty":                 nil,
	} {
		_, ok := ParseHead(b)
		assert.False(t, ok, name)
	}
}

// TestReaderDirect reads large bins straight into their destination, from
// sources that deliver the bytes in different ways, and checks the rest
// of each message and the message after it.
func TestReaderDirect(t *testing.T) {
	const n = 100 << 10
	req, resp, bare, ext, body := directMsgs(n)
	stream := cat(req, msgReq, resp, bare, msgNotify)
	sources := map[string]func() io.Reader{
		"one read":  func() io.Reader { return bytes.NewReader(stream) },
		"half":      func() io.Reader { return iotest.HalfReader(bytes.NewReader(stream)) },
		"1000 each": func() io.Reader { return &chunkReader{chunks: chunksOf(stream, 1000)} },
		"stalls":    func() io.Reader { return &stallReader{r: iotest.HalfReader(bytes.NewReader(stream))} },
	}
	for name, src := range sources {
		t.Run(name, func(t *testing.T) {
			r := NewReader(src(), DefaultLimits)
			r.SetDirect(64 << 10)
			for i, want := range []struct {
				msg  []byte
				head bool
				rest []byte
			}{{req, true, ext}, {msgReq, false, nil}, {resp, true, nil}, {bare, true, nil}, {msgNotify, false, nil}} {
				b, err := r.Next()
				require.NoError(t, err, i)
				if !want.head {
					assert.Equal(t, 0, r.Body())
					assert.Equal(t, want.msg, b)
					continue
				}
				require.Equal(t, n, r.Body(), i)
				require.True(t, bytes.HasPrefix(want.msg, b))
				dst := make([]byte, n)
				rest, err := r.ReadBody(dst)
				require.NoError(t, err)
				assert.Equal(t, body, dst)
				assert.Equal(t, want.rest, rest)
				assert.Equal(t, 0, r.Body())
				assert.Equal(t, want.msg[:len(b)], r.Head(), "the head is kept")
				assert.Less(t, cap(r.buf), 64<<10, "the body never went through the buffer")
			}
			_, err := r.Next()
			require.ErrorIs(t, err, io.EOF)
		})
	}
}

// TestReaderDirectSkipAndWhole: a head left alone is skipped with the rest
// of its message, and Whole returns the message as Next would have.
func TestReaderDirectSkipAndWhole(t *testing.T) {
	req, resp, _, _, _ := directMsgs(80 << 10)
	r := NewReader(&chunkReader{chunks: chunksOf(cat(req, msgReq, resp, req, msgNotify), 4096)}, DefaultLimits)
	r.SetDirect(64 << 10)
	_, err := r.Next()
	require.NoError(t, err)
	require.NotZero(t, r.Body())
	b, err := r.Next() // skips the first request, extensions included
	require.NoError(t, err)
	assert.Equal(t, msgReq, b)
	_, err = r.Next()
	require.NoError(t, err)
	b, err = r.Whole()
	require.NoError(t, err)
	assert.Equal(t, resp, b)
	_, err = r.Next()
	require.NoError(t, err)
	rest, err := r.ReadBody(nil) // skipped on request
	require.NoError(t, err)
	assert.NotEmpty(t, rest)
	b, err = r.Next()
	require.NoError(t, err)
	assert.Equal(t, msgNotify, b)
	_, err = r.ReadBody(nil)
	require.Error(t, err, "no body is pending")
}

// TestReaderDirectBounds: the head comes only for a bin within the limit,
// the extensions after a body are bounded by what the limit leaves, and a
// body or extensions cut short are io.ErrUnexpectedEOF.
func TestReaderDirectBounds(t *testing.T) {
	const n = 70 << 10
	req, _, _, ext, _ := directMsgs(n)
	lim := Limits{MaxMessage: len(req), MaxDepth: 8}
	next := func(src []byte, lim Limits) (*Reader, error) {
		r := NewReader(&chunkReader{chunks: chunksOf(src, 4096)}, lim)
		r.SetDirect(64 << 10)
		_, err := r.Next()
		return r, err
	}

	r, err := next(req, lim)
	require.NoError(t, err)
	_, err = r.ReadBody(make([]byte, n))
	require.NoError(t, err, "exactly at the limit")

	lim.MaxMessage--
	r, err = next(req, lim)
	require.NoError(t, err)
	_, err = r.ReadBody(make([]byte, n))
	require.ErrorIs(t, err, ErrTooLarge, "the extensions pass the limit")

	lim.MaxMessage = n // the bin itself passes it: no head
	_, err = next(req, lim)
	require.ErrorIs(t, err, ErrTooLarge)

	deep := envelope(mpUint(0), mpUint(7), mpStr("m"), cat(raw(0x91), binOf(n)), rep([]byte{0x91}, 8))
	r, err = next(deep, Limits{MaxMessage: 1 << 20, MaxDepth: 8})
	require.NoError(t, err)
	_, err = r.ReadBody(make([]byte, n))
	require.ErrorIs(t, err, ErrTooDeep, "the extensions nest as deep as in the whole message")

	r, err = next(req[:len(req)-len(ext)-100], DefaultLimits)
	require.NoError(t, err)
	_, err = r.ReadBody(make([]byte, n))
	require.ErrorIs(t, err, io.ErrUnexpectedEOF, "body cut short")
	r, err = next(req[:len(req)-1], DefaultLimits)
	require.NoError(t, err)
	_, err = r.ReadBody(nil)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF, "extensions cut short")
}

// TestReaderDirectHeadMoves: extensions that do not fit in the buffer
// after the head move it with them, and Head follows.
func TestReaderDirectHeadMoves(t *testing.T) {
	const n = 70 << 10
	big := AppendRequestExt(nil, RequestExt{Metadata: map[string]string{"k": string(rep([]byte{'v'}, 20<<10))}})
	msg := envelope(mpUint(0), mpUint(7), mpStr("Bench.Bulk"), cat(raw(0x91), binOf(n)), big)
	// A small message first, so that the head does not start the buffer.
	r := NewReader(&chunkReader{chunks: chunksOf(cat(msgReq, msg), 3000)}, DefaultLimits)
	r.SetDirect(64 << 10)
	_, err := r.Next()
	require.NoError(t, err)
	b, err := r.Next()
	require.NoError(t, err)
	head := bytes.Clone(b)
	rest, err := r.ReadBody(make([]byte, n))
	require.NoError(t, err)
	assert.Equal(t, big, rest)
	assert.Equal(t, head, r.Head())
}

// chunksOf cuts b into chunks of n bytes.
func chunksOf(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		k := min(n, len(b))
		out = append(out, b[:k])
		b = b[k:]
	}
	return out
}

// TestReaderHeadAloneWaitsOneRead: a head that arrives without any of its
// body (a sender that writes them separately) is handed over after one
// more read, so that the caller can see how much of the body is arriving;
// one read only, however little it brings.
func TestReaderHeadAloneWaitsOneRead(t *testing.T) {
	const n = 100 << 10
	_, resp, _, _, body := directMsgs(n)
	head := resp[:len(resp)-n]
	for name, tc := range map[string]struct {
		steps   []any
		arrived int
	}{
		"then the body":      {[]any{head, bytes.NewReader(body)}, 1<<10 - len(head)},
		"then a byte a read": {append(append([]any{head}, chunksAny(body[:10], 1)...), bytes.NewReader(body[10:])), 1},
		"then 500 bytes":     {append([]any{head}, chunksAny(body, 500)...), 500},
	} {
		t.Run(name, func(t *testing.T) {
			src := &scriptReader{steps: tc.steps}
			r := NewReader(src, DefaultLimits)
			r.SetDirect(64 << 10)
			defer r.Close()
			b, err := r.Next()
			require.NoError(t, err)
			assert.Equal(t, head, b)
			require.Equal(t, n, r.Body())
			assert.Equal(t, tc.arrived, r.Arrived())
			dst := make([]byte, n)
			_, err = r.ReadBody(dst)
			require.NoError(t, err)
			assert.Equal(t, body, dst)
			_, err = r.Next()
			require.ErrorIs(t, err, io.EOF)
		})
	}
	// A head whose body never comes is cut short, not handed over.
	r := NewReader(&scriptReader{steps: []any{head}}, DefaultLimits)
	r.SetDirect(64 << 10)
	defer r.Close()
	_, err := r.Next()
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

// chunksAny is b in readers of size bytes each, for scriptReader.
func chunksAny(b []byte, size int) []any {
	var out []any
	for len(b) > 0 {
		k := min(size, len(b))
		out = append(out, bytes.NewReader(b[:k]))
		b = b[k:]
	}
	return out
}

// TestReaderWaitedHeadStaysDirect: a head that came alone and waited for
// one more read is handed over however much of its body that read
// brought, as long as the body has not all arrived: the wait is for the
// caller to see what arrives, not for the reader to choose. A 100 KiB body
// whose first read filled most of a kept 64 KiB buffer was taken whole,
// in a 128 KiB buffer, where the head alone would have gone direct.
func TestReaderWaitedHeadStaysDirect(t *testing.T) {
	_, a, _, _, _ := directMsgs(40 << 10) // grows the buffer to 64 KiB, kept
	_, small, _, _, _ := directMsgs(1000)
	_, b, _, _, _ := directMsgs(64<<10 - len(a) - (len(small) - 1000)) // fills it
	require.Equal(t, 64<<10, len(a)+len(b))
	const n = 100 << 10
	_, resp, _, _, body := directMsgs(n)
	head := resp[:len(resp)-n]
	src := &scriptReader{steps: []any{bytes.NewReader(a), bytes.NewReader(b), head, bytes.NewReader(body)}}
	r := NewReader(src, DefaultLimits)
	r.SetDirect(64 << 10)
	defer r.Close()
	for _, want := range [][]byte{a, b} {
		m, err := r.Next()
		require.NoError(t, err)
		require.Equal(t, want, m)
	}
	m, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, n, r.Body(), "the head, not the whole message")
	assert.Equal(t, head, m)
	assert.Equal(t, 64<<10-len(head), r.Arrived())
	assert.Equal(t, 64<<10, len(r.buf), "the buffer did not grow")
	dst := make([]byte, n)
	_, err = r.ReadBody(dst)
	require.NoError(t, err)
	assert.Equal(t, body, dst)
	_, err = r.Next()
	require.ErrorIs(t, err, io.EOF)
}
