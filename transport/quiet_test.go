package transport

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClock returns times step apart, starting far from the zero time.
func fakeClock(step time.Duration) func() time.Time {
	var mu sync.Mutex
	now := time.Unix(1e9, 0)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(step)
		return now
	}
}

// gatedConn is a writesConn whose writes wait until open is closed.
type gatedConn struct {
	writesConn
	open    chan struct{}
	started chan struct{} // gets a value as each write begins
}

func (g *gatedConn) Write(p []byte) (int, error) {
	select {
	case g.started <- struct{}{}:
	default:
	}
	<-g.open
	return g.writesConn.Write(p)
}

func newGated() *gatedConn {
	return &gatedConn{open: make(chan struct{}), started: make(chan struct{}, 16)}
}

// writeWithin calls co.Write(p) and fails unless it returns within 5 s
// while the connection's writes are held: it queued p instead of writing
// it.
func writeWithin(t *testing.T, co *coalescer, p []byte) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := co.Write(p)
		done <- err
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Write waited for the connection: it wrote instead of queueing")
	}
}

// TestCoalescerQuietWritesAtOnce: in a quiet session (few streams, frames
// far apart), an idle coalescer writes each frame in the caller's
// goroutine before Write returns, a data frame's header joined to a small
// body, and a large body after its header.
func TestCoalescerQuietWritesAtOnce(t *testing.T) {
	wc := &writesConn{}
	co := newCoalescer(wc, time.Second)
	co.quiet = func() bool { return true }
	co.clock = fakeClock(time.Millisecond)
	defer co.Close()
	small := bytes.Repeat([]byte{1}, 600)
	large := bytes.Repeat([]byte{3}, joinCopy+1)
	window := frameHdr(1, 3, 256<<10)
	var want [][]byte
	for _, w := range []struct {
		frame [][]byte
		out   [][]byte
	}{
		{[][]byte{frameHdr(0, 3, 600), small}, [][]byte{cat(frameHdr(0, 3, 600), small)}},
		{[][]byte{window}, [][]byte{window}},
		// net.Buffers writes each buffer in turn to a Conn without writev.
		{[][]byte{frameHdr(0, 5, joinCopy+1), large}, [][]byte{frameHdr(0, 5, joinCopy+1), large}},
		{[][]byte{frameHdr(0, 3, 12), frameHdr(0, 9, 9)}, [][]byte{cat(frameHdr(0, 3, 12), frameHdr(0, 9, 9))}},
	} {
		for _, p := range w.frame {
			n, err := co.Write(p)
			require.NoError(t, err)
			require.Equal(t, len(p), n)
		}
		want = append(want, w.out...)
		wc.mu.Lock()
		assert.Equal(t, want, wc.writes, "after %d writes: written before Write returned", len(want))
		wc.mu.Unlock()
	}
}

// TestCoalescerBusyQueues: frames that come close together, or to a
// session with many streams, are queued for the flusher (Write returns
// while the connection is held), and a quiet frame that comes while a
// write is in flight is queued behind it: everything arrives in order.
func TestCoalescerBusyQueues(t *testing.T) {
	for _, tc := range []struct {
		name  string
		quiet bool
		step  time.Duration
	}{
		{"close together", true, time.Microsecond},
		{"many streams", false, time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGated()
			co := newCoalescer(g, 10*time.Second)
			co.quiet = func() bool { return tc.quiet }
			co.clock = fakeClock(tc.step)
			co.last = co.clock() // a frame came just before
			var all [][]byte
			for i := range 3 {
				h, body := frameHdr(0, 3, 100), bytes.Repeat([]byte{byte(i)}, 100)
				writeWithin(t, co, h)
				writeWithin(t, co, body)
				all = append(all, h, body)
			}
			<-g.started // the flusher is writing the first batch
			// Now a frame that is quiet by every measure: the writer is
			// busy, so it queues too.
			co.quiet = func() bool { return true }
			co.clock = fakeClock(time.Second)
			h, body := frameHdr(0, 3, 5), []byte("after")
			writeWithin(t, co, h)
			writeWithin(t, co, body)
			all = append(all, h, body)
			close(g.open)
			require.NoError(t, co.Close())
			g.mu.Lock()
			defer g.mu.Unlock()
			assert.Equal(t, bytes.Join(all, nil), bytes.Join(g.writes, nil))
			assert.Less(t, len(g.writes), 4, "batched: %d writes", len(g.writes))
		})
	}
}
