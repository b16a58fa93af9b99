package transport

import (
	"bytes"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCoalescerOrder: small frames (batched) and large ones (written
// directly) reach the peer in the order they were written.
func TestCoalescerOrder(t *testing.T) {
	a, b := net.Pipe()
	co := newCoalescer(a, 5*time.Second)
	var want bytes.Buffer
	got := make(chan []byte)
	go func() {
		data, _ := io.ReadAll(b)
		got <- data
	}()
	for i := range 200 {
		n := 1 + i%50
		if i%40 == 39 {
			n = coalesceDirect + i // a large body skips the buffer
		}
		p := bytes.Repeat([]byte{byte(i)}, n)
		want.Write(p)
		k, err := co.Write(p)
		require.NoError(t, err)
		require.Equal(t, n, k)
	}
	require.NoError(t, co.Close()) // writes what is pending, then closes
	assert.Equal(t, want.Bytes(), <-got)
}

// TestCoalescerClose: Close tells the session first, flushes, and later
// writes fail.
func TestCoalescerClose(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	co := newCoalescer(a, 5*time.Second)
	var ended atomic.Int32
	co.onClose = func() { ended.Add(1) }
	go func() { _, _ = io.Copy(io.Discard, b) }()
	_, err := co.Write([]byte("frame"))
	require.NoError(t, err)
	require.NoError(t, co.Close())
	assert.Equal(t, int32(1), ended.Load())
	_, err = co.Write([]byte("late"))
	require.ErrorIs(t, err, net.ErrClosed)
}

// TestCoalescerStalledPeer: a peer that stops reading fails the write
// within the timeout; the session is ended before the connection closes,
// and every later write returns the error.
func TestCoalescerStalledPeer(t *testing.T) {
	a, b := net.Pipe() // b never reads
	defer b.Close()
	co := newCoalescer(&closeCheck{Conn: a}, 20*time.Millisecond)
	ended := make(chan bool, 1)
	co.onClose = func() { ended <- co.Conn.(*closeCheck).closed.Load() }
	_, err := co.Write([]byte("frame"))
	require.NoError(t, err)
	select {
	case closedFirst := <-ended:
		assert.False(t, closedFirst, "the session ends before the connection closes")
	case <-time.After(5 * time.Second):
		t.Fatal("the stalled write did not fail")
	}
	require.Eventually(t, func() bool { return co.w.Err() != nil }, 5*time.Second, time.Millisecond)
	_, err = co.Write([]byte("more"))
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	assert.True(t, co.Conn.(*closeCheck).closed.Load())
	co.onClose = func() {}
	require.NoError(t, co.Close())
}

type closeCheck struct {
	net.Conn
	closed atomic.Bool
}

func (c *closeCheck) Close() error { c.closed.Store(true); return c.Conn.Close() }
