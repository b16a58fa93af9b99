package transport

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chunkConn is a connection whose reads return its input in chunks of the
// given sizes (cycling), then io.EOF.
type chunkConn struct {
	net.Conn
	in     []byte
	chunks []int
	i      int
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.in) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), len(c.in), c.chunks[c.i%len(c.chunks)])
	c.i++
	n := copy(p, c.in[:k])
	c.in = c.in[n:]
	return n, nil
}

// TestVaudit16GuardMovesFIN: what yamux reads through the guard is what
// the peer sent, but that a data frame's FIN with a body comes after the
// body, as a window update of no length (yamux v0.1.2 would otherwise let
// a reader see the close before the data), whatever the chunks the
// connection delivers and the buffers the reader offers.
func TestVaudit16GuardMovesFIN(t *testing.T) {
	var in, want []byte
	in = append(in, frame(0, flagSYN, 1, 3)...)
	in = append(in, 'a', 'b', 'c')
	want = append(want, in...)
	in = append(in, frame(0, flagFIN, 1, 5)...)
	in = append(in, "hello"...)
	want = append(want, frame(0, 0, 1, 5)...)
	want = append(want, "hello"...)
	want = append(want, frame(1, flagFIN, 1, 0)...)
	tail := append(frame(0, flagSYN|flagFIN, 3, 2), 'x', 'y') // open, send and close at once
	tail = append(tail, frame(1, flagFIN, 5, 0)...)           // no body: as it is
	in = append(in, tail...)
	want = append(want, frame(0, flagSYN, 3, 2)...)
	want = append(want, 'x', 'y')
	want = append(want, frame(1, flagFIN, 3, 0)...)
	want = append(want, frame(1, flagFIN, 5, 0)...)

	for _, chunks := range [][]int{{1 << 20}, {1}, {5}, {11}, {12}, {13}, {3, 7}, {17, 2}} {
		for _, bufSize := range []int{1, 7, 64, 4096} {
			g := newGuard(&chunkConn{in: in, chunks: chunks}, true, NewBudget(0, nil), time.Minute)
			var got []byte
			buf := make([]byte, bufSize)
			var err error
			for range 10_000 {
				var n int
				n, err = g.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil {
					break
				}
			}
			require.ErrorIs(t, err, io.EOF, "chunks %v, buffer %d", chunks, bufSize)
			assert.Equal(t, want, got, "chunks %v, buffer %d", chunks, bufSize)
		}
	}
}
