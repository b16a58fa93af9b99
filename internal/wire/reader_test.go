package wire

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readAll returns every message of r and the error that ended the stream.
func readAll(r *Reader) ([][]byte, error) {
	var out [][]byte
	for {
		m, err := r.Next()
		if err != nil {
			return out, err
		}
		out = append(out, bytes.Clone(m))
	}
}

// chunkReader returns its chunks one per Read call, then io.EOF.
type chunkReader struct {
	chunks [][]byte
	read   int // bytes handed out so far
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.chunks) > 0 && len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
	}
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	c.read += n
	return n, nil
}

// stallReader returns (0, nil) before every byte, which io.Reader allows.
type stallReader struct {
	r     io.Reader
	stall bool
}

func (s *stallReader) Read(p []byte) (int, error) {
	s.stall = !s.stall
	if s.stall {
		return 0, nil
	}
	return s.r.Read(p[:min(1, len(p))])
}

var (
	msgReq    = []byte{0x94, 0x00, 0x01, 0xa3, 'a', '.', 'b', 0x91, 0x92, 0x01, 0x02}
	msgNotify = []byte{0x93, 0x02, 0xa1, 'n', 0x90}
	msgResp   = cat([]byte{0x94, 0x01, 0xcd, 0x12, 0x34, 0xc0, 0xc4, 0x00})
	msgBig    = cat([]byte{0x94, 0x01, 0x02, 0xc0, 0xc6, 0x00, 0x02, 0x00, 0x00}, make([]byte, 128<<10))
)

func TestReaderPipelined(t *testing.T) {
	stream := cat(msgReq, msgNotify, msgResp, msgBig, msgReq)
	want := [][]byte{msgReq, msgNotify, msgResp, msgBig, msgReq}
	sources := map[string]func() io.Reader{
		"one read":     func() io.Reader { return bytes.NewReader(stream) },
		"one byte":     func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) },
		"half":         func() io.Reader { return iotest.HalfReader(bytes.NewReader(stream)) },
		"data and EOF": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(stream)) },
		"stalls":       func() io.Reader { return &stallReader{r: bytes.NewReader(stream)} },
	}
	for name, src := range sources {
		t.Run(name, func(t *testing.T) {
			got, err := readAll(NewReader(src(), DefaultLimits))
			require.ErrorIs(t, err, io.EOF)
			require.Equal(t, len(want), len(got))
			for i := range want {
				assert.Equal(t, want[i], got[i], "message %d", i)
			}
		})
	}
}

func TestReaderMessageCapacityIsClipped(t *testing.T) {
	r := NewReader(bytes.NewReader(cat(msgReq, msgNotify)), DefaultLimits)
	m, err := r.Next()
	require.NoError(t, err)
	assert.Equal(t, len(m), cap(m), "appending to a message must not overwrite the next one")
}

func TestReaderTruncated(t *testing.T) {
	for i := 1; i < len(msgReq); i++ {
		r := NewReader(iotest.OneByteReader(bytes.NewReader(cat(msgNotify, msgReq[:i]))), DefaultLimits)
		got, err := readAll(r)
		assert.Len(t, got, 1)
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "cut after %d bytes", i)
	}
	// At a message boundary the stream simply ends.
	_, err := readAll(NewReader(bytes.NewReader(msgNotify), DefaultLimits))
	assert.Equal(t, io.EOF, err)
	_, err = NewReader(bytes.NewReader(nil), DefaultLimits).Next()
	assert.Equal(t, io.EOF, err)
}

func TestReaderPassesOnReadErrors(t *testing.T) {
	r := NewReader(iotest.TimeoutReader(iotest.OneByteReader(bytes.NewReader(msgReq))), DefaultLimits)
	_, err := r.Next()
	assert.ErrorIs(t, err, iotest.ErrTimeout)

	boom := errors.New("boom")
	r = NewReader(iotest.ErrReader(boom), DefaultLimits)
	_, err = r.Next()
	assert.ErrorIs(t, err, boom)
}

func TestReaderNotMessage(t *testing.T) {
	for _, first := range []byte{0x00, 0x7f, 0x80, 0x8f, 0xa0, 0xc0, 0xc1, 0xc4, 0xde, 0xdf, 0xe0, 0xff} {
		_, err := NewReader(bytes.NewReader([]byte{first, 0x00}), DefaultLimits).Next()
		assert.ErrorIs(t, err, ErrNotMessage, "0x%02x", first)
	}
	// After a good message, garbage where the next one should start.
	got, err := readAll(NewReader(bytes.NewReader(cat(msgNotify, []byte{0x00})), DefaultLimits))
	assert.Len(t, got, 1)
	assert.ErrorIs(t, err, ErrNotMessage)
	// array16 and array32 envelopes are messages.
	for _, b := range [][]byte{
		{0xdc, 0x00, 0x03, 0x02, 0xa0, 0x90},
		{0xdd, 0x00, 0x00, 0x00, 0x03, 0x02, 0xa0, 0x90},
	} {
		m, err := NewReader(bytes.NewReader(b), DefaultLimits).Next()
		require.NoError(t, err)
		assert.Equal(t, b, m)
	}
}

func TestReaderLimits(t *testing.T) {
	cases := map[string]struct {
		b   []byte
		err error
	}{
		"array32 envelope":   {[]byte{0xdd, 0xff, 0xff, 0xff, 0xff}, ErrTooLarge},
		"array32 params":     {[]byte{0x94, 0x00, 0x01, 0xa1, 'm', 0xdd, 0xff, 0xff, 0xff, 0xff}, ErrTooLarge},
		"map32 params":       {[]byte{0x94, 0x00, 0x01, 0xa1, 'm', 0xdf, 0xff, 0xff, 0xff, 0xff}, ErrTooLarge},
		"bin32 params":       {[]byte{0x94, 0x00, 0x01, 0xa1, 'm', 0x91, 0xc6, 0xff, 0xff, 0xff, 0xff}, ErrTooLarge},
		"str32 params":       {[]byte{0x94, 0x00, 0x01, 0xa1, 'm', 0x91, 0xdb, 0xff, 0xff, 0xff, 0xff}, ErrTooLarge},
		"deep params":        {cat([]byte{0x94, 0x00, 0x01, 0xa1, 'm'}, rep([]byte{0x91}, 100_000)), ErrTooDeep},
		"deep array16 nests": {cat([]byte{0x94, 0x00, 0x01, 0xa1, 'm'}, rep([]byte{0xdc, 0xff, 0xff}, 2048)), ErrTooDeep},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(c.b), DefaultLimits)
			_, err := r.Next()
			require.ErrorIs(t, err, c.err)
			assert.LessOrEqual(t, cap(r.buf), minBuffer, "the reader grew for a declared length")
		})
	}
	// A message of exactly MaxMessage bytes passes; one more byte does not.
	lim := Limits{MaxMessage: 1024, MaxDepth: 8}
	exact := cat([]byte{0x92, 0x00, 0xc5, 0x03, 0xfb}, make([]byte, 1019))
	require.Len(t, exact, 1024)
	m, err := NewReader(bytes.NewReader(exact), lim).Next()
	require.NoError(t, err)
	assert.Len(t, m, 1024)
	over := cat([]byte{0x92, 0x00, 0xc5, 0x03, 0xfd}, make([]byte, 1021))
	_, err = NewReader(bytes.NewReader(over), lim).Next()
	assert.ErrorIs(t, err, ErrTooLarge)
}

// TestReaderMemoryFollowsArrivals sends a bin32 header declaring 512 MiB
// (under a 1 GiB limit) followed by only 64 KiB: the buffer must track the
// bytes that came, not the length that was declared.
func TestReaderMemoryFollowsArrivals(t *testing.T) {
	const arrived = 64 << 10
	head := []byte{0x92, 0x00, 0xc6, 0x20, 0x00, 0x00, 0x00}
	chunks := [][]byte{head}
	for i := 0; i < arrived/1024; i++ {
		chunks = append(chunks, make([]byte, 1024))
	}
	src := &chunkReader{chunks: chunks}
	r := NewReader(src, Limits{MaxMessage: 1 << 30, MaxDepth: 8})

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := r.Next()
	runtime.ReadMemStats(&after)

	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.LessOrEqual(t, cap(r.buf), 2*src.read, "buffer %d for %d bytes read", cap(r.buf), src.read)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("declared 512 MiB, %d bytes arrived: buffer %d bytes, %d bytes allocated", src.read, cap(r.buf), alloc)
	assert.Less(t, alloc, uint64(1<<20))
}

// TestReaderBufferBounds checks, after every message, that the buffer is
// within twice the bytes read so far (and MaxMessage+16), and that a large
// buffer is released once drained.
func TestReaderBufferBounds(t *testing.T) {
	lim := Limits{MaxMessage: 300 << 10, MaxDepth: 8}
	big := cat([]byte{0x92, 0x00, 0xc6, 0x00, 0x03, 0x00, 0x00}, make([]byte, 192<<10))
	src := &chunkReader{chunks: [][]byte{msgReq, big, msgNotify, cat(msgReq, msgResp)}}
	r := NewReader(src, lim)
	for i := 0; ; i++ {
		m, err := r.Next()
		if err != nil {
			require.Equal(t, io.EOF, err)
			break
		}
		assert.LessOrEqual(t, len(m), lim.MaxMessage)
		assert.LessOrEqual(t, cap(r.buf), max(minBuffer, 2*src.read), "message %d", i)
		assert.LessOrEqual(t, cap(r.buf), lim.MaxMessage+16, "message %d", i)
		if bytes.Equal(m, msgNotify) {
			assert.LessOrEqual(t, cap(r.buf), minBuffer, "the 192 KiB buffer was kept")
		}
	}
}

// TestReaderSizedToLimit checks that with a limit below the usual initial
// buffer the reader never holds more than MaxMessage+16 bytes.
func TestReaderSizedToLimit(t *testing.T) {
	lim := Limits{MaxMessage: 32, MaxDepth: 4}
	stream := cat(msgReq, msgNotify, msgReq, msgResp)
	got, err := readAll(NewReader(bytes.NewReader(stream), lim))
	require.Equal(t, io.EOF, err)
	assert.Len(t, got, 4)

	r := NewReader(bytes.NewReader(cat([]byte{0x92, 0x00, 0xc4, 40}, make([]byte, 40))), lim)
	_, err = r.Next()
	assert.ErrorIs(t, err, ErrTooLarge)
	assert.LessOrEqual(t, cap(r.buf), lim.MaxMessage+16)
}

// sizeReader records the room every Read call was given.
type sizeReader struct {
	r     io.Reader
	rooms []int
}

func (s *sizeReader) Read(p []byte) (int, error) {
	s.rooms = append(s.rooms, len(p))
	return s.r.Read(p)
}

// TestReaderStopsAtLargePayload: reads stop at the end of a large
// payload, so that back-to-back large messages that end with it leave the
// buffer drained (no partial next message to move) and released.
func TestReaderStopsAtLargePayload(t *testing.T) {
	r := NewReader(bytes.NewReader(cat(msgBig, msgBig, msgBig, msgReq)), Limits{MaxMessage: 1 << 20, MaxDepth: 8})
	for i := range 3 {
		m, err := r.Next()
		require.NoError(t, err)
		require.Equal(t, msgBig, m)
		assert.Equal(t, r.start, r.end, "message %d: the read stopped at its end", i)
	}
	m, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, msgReq, m)
	_, err = r.Next()
	require.Equal(t, io.EOF, err)
}

// TestReaderHint: after a large message, the next one that outgrows the
// small buffer gets a buffer of the last large one's size at once instead
// of growing geometrically; between them, the reader holds the small
// buffer only.
func TestReaderHint(t *testing.T) {
	src := &sizeReader{r: &chunkReader{chunks: [][]byte{msgBig, msgReq, msgBig}}}
	r := NewReader(src, Limits{MaxMessage: 1 << 20, MaxDepth: 8})
	m, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, msgBig, m)
	first := len(src.rooms)
	m, err = r.Next()
	require.NoError(t, err)
	require.Equal(t, msgReq, m)
	assert.LessOrEqual(t, cap(r.buf), minBuffer, "the large buffer is released once drained")
	src.rooms = src.rooms[:0]
	m, err = r.Next()
	require.NoError(t, err)
	require.Equal(t, msgBig, m)
	t.Logf("rooms of the reads: %v (the first large message took %d reads)", src.rooms, first)
	require.GreaterOrEqual(t, len(src.rooms), 2)
	assert.GreaterOrEqual(t, src.rooms[1], len(msgBig)-minBuffer, "the second read has room for the rest")
	assert.Less(t, len(src.rooms), first, "fewer reads than the first time")
}

// TestReaderHintWithinBudget: the hint never takes the buffer past the
// account: when the hinted size does not fit, growth is geometric.
func TestReaderHintWithinBudget(t *testing.T) {
	acct := &limitAccount{limit: 300 << 10}
	mid := cat([]byte{0x94, 0x01, 0x02, 0xc0, 0xc6, 0x00, 0x00, 0xa0, 0x00}, make([]byte, 40<<10))
	src := &chunkReader{chunks: [][]byte{msgBig, mid}}
	r := NewReader(src, Limits{MaxMessage: 1 << 20, MaxDepth: 8})
	r.SetAccount(acct)
	m, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, msgBig, m)
	acct.used += 100 << 10 // someone else's: the hinted 256 KiB no longer fits
	m, err = r.Next()
	require.NoError(t, err)
	require.Equal(t, mid, m)
	assert.LessOrEqual(t, acct.used, acct.limit)
	assert.Equal(t, 64<<10, cap(r.buf), "geometric growth")
	r.Close()
	assert.Equal(t, 100<<10, acct.used)
}

// limitAccount is an Account with a fixed limit.
type limitAccount struct{ used, limit int }

func (a *limitAccount) Charge(n int) bool {
	if a.used+n > a.limit {
		return false
	}
	a.used += n
	return true
}

func (a *limitAccount) Release(n int) { a.used -= n }

// timedReader is a chunkReader that notes when each Read began.
type timedReader struct {
	chunkReader
	began []time.Time
}

func (r *timedReader) Read(p []byte) (int, error) {
	r.began = append(r.began, time.Now())
	return r.chunkReader.Read(p)
}

// TestReaderReadAt: with SetStamp, a message's ReadAt is the time of the
// read that completed it (the messages of one read share it); without,
// it is zero.
func TestReaderReadAt(t *testing.T) {
	half := len(msgResp) / 2
	chunks := func() [][]byte {
		return [][]byte{cat(msgReq, msgNotify, msgResp[:half]), bytes.Clone(msgResp[half:])}
	}
	src := &timedReader{chunkReader: chunkReader{chunks: chunks()}}
	r := NewReader(src, DefaultLimits)
	r.SetStamp(true)
	var at []time.Time
	for range 3 {
		_, err := r.Next()
		require.NoError(t, err)
		at = append(at, r.ReadAt())
	}
	require.Len(t, src.began, 2)
	assert.Equal(t, at[0], at[1], "two messages of one read")
	assert.False(t, at[0].Before(src.began[0]))
	assert.True(t, at[0].Before(src.began[1]), "the first read's time, not the second's")
	assert.False(t, at[2].Before(src.began[1]), "completed by the second read")

	r = NewReader(&chunkReader{chunks: chunks()}, DefaultLimits)
	_, err := r.Next()
	require.NoError(t, err)
	assert.True(t, r.ReadAt().IsZero(), "no stamp without SetStamp")
}
