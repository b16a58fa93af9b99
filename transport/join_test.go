package transport

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// frameHdr is a yamux frame header: version 0, type, flags, stream id,
// length.
func frameHdr(typ byte, id, length uint32) []byte {
	h := make([]byte, frameHeader)
	h[1] = typ
	binary.BigEndian.PutUint32(h[4:], id)
	binary.BigEndian.PutUint32(h[8:], length)
	return h
}

// writesConn records every Write it gets, one entry per call.
type writesConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (w *writesConn) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

func (w *writesConn) SetWriteDeadline(time.Time) error { return nil }
func (w *writesConn) Close() error                     { return nil }

// TestJoinerJoinsFrames: a data frame's header goes out with a small
// body in one write, and before a large body; frames without a body
// (window updates, pings, empty data frames that open or close a stream)
// go out at once; nothing is reordered or held after a frame is complete.
func TestJoinerJoinsFrames(t *testing.T) {
	wc := &writesConn{}
	co := newJoiner(wc, time.Second)
	small := bytes.Repeat([]byte{1}, 600)
	atLimit := bytes.Repeat([]byte{2}, joinCopy)
	large := bytes.Repeat([]byte{3}, joinCopy+1)
	window := frameHdr(1, 3, 256<<10)
	ping := frameHdr(2, 0, 7)
	fin := frameHdr(0, 3, 0)
	var want [][]byte
	for _, w := range []struct {
		frame [][]byte
		out   [][]byte
	}{
		{[][]byte{frameHdr(0, 3, 600), small}, [][]byte{cat(frameHdr(0, 3, 600), small)}},
		{[][]byte{window}, [][]byte{window}},
		{[][]byte{ping}, [][]byte{ping}},
		{[][]byte{frameHdr(0, 5, joinCopy), atLimit}, [][]byte{cat(frameHdr(0, 5, joinCopy), atLimit)}},
		{[][]byte{frameHdr(0, 5, joinCopy+1), large}, [][]byte{frameHdr(0, 5, joinCopy+1), large}},
		{[][]byte{fin}, [][]byte{fin}},
		// A body that happens to be 12 bytes long is not taken for a header.
		{[][]byte{frameHdr(0, 3, 12), frameHdr(0, 9, 9)}, [][]byte{cat(frameHdr(0, 3, 12), frameHdr(0, 9, 9))}},
	} {
		for _, p := range w.frame {
			n, err := co.Write(p)
			require.NoError(t, err)
			require.Equal(t, len(p), n)
		}
		want = append(want, w.out...)
		assert.Equal(t, want, wc.writes, "after %d frames", len(want))
	}
}

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

// TestJoinerOverTCP: frames of every size reach the peer whole and in
// order over a real connection.
func TestJoinerOverTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		data, _ := io.ReadAll(c)
		got <- data
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	co := newJoiner(c, 5*time.Second)
	var want bytes.Buffer
	for i := range 200 {
		n := 1 + i*i%50
		if i%40 == 39 {
			n = joinCopy + i*1000 // written after its header, not copied
		}
		hdr, body := frameHdr(0, uint32(i), uint32(n)), bytes.Repeat([]byte{byte(i)}, n)
		for _, p := range [][]byte{hdr, body, frameHdr(1, uint32(i), 4096)} {
			want.Write(p)
			_, err := co.Write(p)
			require.NoError(t, err)
		}
	}
	require.NoError(t, co.Close())
	assert.Equal(t, want.Bytes(), <-got)
}

// TestJoinerClose: Close tells the session first and closes the
// connection; later writes fail with net.ErrClosed, and a header waiting
// for its body is never sent.
func TestJoinerClose(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	co := newJoiner(a, 5*time.Second)
	var ended atomic.Int32
	co.onClose = func() { ended.Add(1) }
	got := make(chan []byte, 1)
	go func() {
		data, _ := io.ReadAll(b)
		got <- data
	}()
	frame := cat(frameHdr(0, 1, 5), []byte("frame"))
	_, err := co.Write(frame[:frameHeader])
	require.NoError(t, err)
	_, err = co.Write(frame[frameHeader:])
	require.NoError(t, err)
	_, err = co.Write(frameHdr(0, 1, 5)) // held: its body never comes
	require.NoError(t, err)
	require.NoError(t, co.Close())
	assert.Equal(t, int32(1), ended.Load())
	assert.Equal(t, frame, <-got)
	_, err = co.Write([]byte("late"))
	require.ErrorIs(t, err, net.ErrClosed)
	require.NoError(t, co.Close(), "a second Close")
}

// TestJoinerStalledPeer: a peer that stops reading fails the write
// within the timeout; the session is ended before the connection closes,
// and every later write returns the error.
func TestJoinerStalledPeer(t *testing.T) {
	a, b := net.Pipe() // b never reads
	defer b.Close()
	co := newJoiner(&closeCheck{Conn: a}, 20*time.Millisecond)
	ended := make(chan bool, 1)
	co.onClose = func() { ended <- co.Conn.(*closeCheck).closed.Load() }
	_, err := co.Write(frameHdr(0, 1, 5))
	require.NoError(t, err, "a header waits for its body")
	start := time.Now()
	_, err = co.Write([]byte("frame"))
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	assert.Less(t, time.Since(start), 5*time.Second)
	select {
	case closedFirst := <-ended:
		assert.False(t, closedFirst, "the session ends before the connection closes")
	default:
		t.Fatal("the failed write did not end the session")
	}
	_, err = co.Write([]byte("more"))
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	assert.True(t, co.Conn.(*closeCheck).closed.Load())
	co.onClose = func() {}
	require.NoError(t, co.Close())
}

// TestJoinerCloseCutsWrite: Close from another goroutine ends a write
// blocked on a peer that does not read, without waiting for its deadline.
func TestJoinerCloseCutsWrite(t *testing.T) {
	a, b := net.Pipe() // b never reads
	defer b.Close()
	co := newJoiner(a, time.Hour)
	done := make(chan error, 1)
	go func() {
		_, err := co.Write(frameHdr(1, 1, 1))
		done <- err
	}()
	require.NoError(t, co.Close())
	select {
	case err := <-done:
		require.Error(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not cut the write short")
	}
}

// TestJoinerKeepsJoinBuffer: the buffer that joins a header to a small
// body goes back to the pool whatever the body's size, so that a run of
// frames allocates nothing; a buffer that append grew past the copy limit
// (a body of 16,001-16,384 bytes, or 15,300 after one of 9,000) was
// dropped, and each such frame cost three allocations and about 22 KiB.
func TestJoinerKeepsJoinBuffer(t *testing.T) {
	co := newJoiner(&nopConn{}, time.Second)
	for _, sizes := range [][]int{{600}, {9000, 15300}, {16001}, {joinCopy}, {5000, 12000, joinCopy}} {
		var frames [][]byte
		for _, n := range sizes {
			frames = append(frames, frameHdr(0, 1, uint32(n)), make([]byte, n))
		}
		allocs := testing.AllocsPerRun(400, func() {
			for _, p := range frames {
				_, err := co.Write(p)
				require.NoError(t, err)
			}
		})
		switch {
		case !raceEnabled:
			assert.Zero(t, allocs, "bodies of %v bytes", sizes)
		case len(sizes) == 1:
			// The race detector drops a quarter of the pool's buffers:
			// about 3/4 of an allocation a frame (New and one growth),
			// which AllocsPerRun rounds down.
			assert.Less(t, allocs, 1.0, "bodies of %v bytes", sizes)
		}
	}
}

// nopConn takes every write and deadline.
type nopConn struct{ net.Conn }

func (nopConn) Write(p []byte) (int, error)      { return len(p), nil }
func (nopConn) SetWriteDeadline(time.Time) error { return nil }
