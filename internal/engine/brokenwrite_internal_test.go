package engine

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// breakingConn is a stream whose first write blocks until broken is
// closed and then fails, as a write to a stream whose connection broke
// does; it records what reached it. Reads wait for Close.
type breakingConn struct {
	entered chan struct{} // closed when the first write began
	broken  chan struct{} // closed to fail the write in flight
	closed  chan struct{}
	once    sync.Once

	mu      sync.Mutex
	written []byte
	writes  int
}

func newBreakingConn() *breakingConn {
	return &breakingConn{entered: make(chan struct{}), broken: make(chan struct{}), closed: make(chan struct{})}
}

var errBroken = errors.New("test: the stream broke")

func (b *breakingConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.writes++
	first := b.writes == 1
	b.mu.Unlock()
	if first {
		close(b.entered)
		<-b.broken
		b.mu.Lock()
		b.written = append(b.written, p[:len(p)/2]...) // half of it went out
		b.mu.Unlock()
		return len(p) / 2, errBroken
	}
	return 0, errBroken
}

func (b *breakingConn) Read([]byte) (int, error) {
	<-b.closed
	return 0, io.EOF
}

func (b *breakingConn) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

// TestQueuedBehindABrokenWriteIsNotExecuted: when the write in flight
// fails and the stream breaks, the call whose request was in that write
// may have executed (part of it went out), while the calls whose requests
// were queued behind it were never written: they fail flagged not
// executed, so that a caller (or cluster) may retry them anywhere. Before,
// every queued call was reported as "may or may not have executed".
func TestQueuedBehindABrokenWriteIsNotExecuted(t *testing.T) {
	rwc := newBreakingConn()
	c := New(rwc, Options{FerryPeer: true})
	c.Start()
	defer c.Close()
	first := c.Go(context.Background(), "T.First", 1, nil)
	select {
	case <-rwc.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the first request's write did not begin")
	}
	var queued []*ferry.Call
	for range 3 { // queued in the next batch, behind the write in flight
		queued = append(queued, c.Go(context.Background(), "T.Queued", 2, nil))
	}
	close(rwc.broken)
	wait := func(call *ferry.Call) error {
		select {
		case <-call.Done():
			return call.Err()
		case <-time.After(5 * time.Second):
			t.Fatal("a call did not end after the stream broke")
			return nil
		}
	}
	err := wait(first)
	require.Error(t, err)
	assert.False(t, ferry.NotExecuted(err), "part of its request was written: %v", err)
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err))
	for i, call := range queued {
		err := wait(call)
		require.Error(t, err)
		assert.True(t, ferry.NotExecuted(err), "queued call %d was never written: %v", i, err)
		assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%v", err)
	}
	rwc.mu.Lock()
	defer rwc.mu.Unlock()
	assert.NotContains(t, string(rwc.written), "T.Queued", "no queued request reached the stream")
	assert.Equal(t, 1, rwc.writes, "no write after the one that failed")
}
