package flush

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStopReportsTheLastBatchBegun: Batch numbers the pending batch from
// 1; Stop returns the number of the last batch whose write began, and no
// batch is written after it: the pending one is dropped (and released
// through Flushed), the write in flight ends as it does, and later calls
// fail with Stop's error.
func TestStopReportsTheLastBatchBegun(t *testing.T) {
	dst := &sink{gate: make(chan struct{})}
	var flushed []int
	w := New(dst, Config{Flushed: func(n int) { flushed = append(flushed, n) }})
	queue := func(s string) uint64 {
		b, err := w.Begin()
		require.NoError(t, err)
		n := w.Batch()
		w.End(append(b, s...))
		return n
	}
	assert.Equal(t, uint64(1), queue("first"))
	require.Eventually(t, func() bool { return dst.batchesBegun() == 1 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, uint64(2), queue("second"), "behind the write in flight")
	assert.Equal(t, uint64(2), queue("third"))
	stop := errors.New("stopped")
	assert.Equal(t, uint64(1), w.Stop(stop))
	assert.Equal(t, uint64(1), w.Stop(errors.New("again")), "a second Stop changes nothing")
	close(dst.gate)
	w.Shutdown()
	select {
	case <-w.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not finish")
	}
	dst.mu.Lock()
	assert.Equal(t, "first", string(dst.data), "nothing written after the stop")
	assert.Equal(t, 1, len(dst.batches))
	dst.mu.Unlock()
	assert.ErrorIs(t, w.Err(), stop)
	_, err := w.Begin()
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, []int{len("first"), len("secondthird")}, flushed, "the dropped batch is released too")
}

// TestStopAfterAFailedWrite: once a write failed, Stop keeps that error
// and reports the failed write's batch.
func TestStopAfterAFailedWrite(t *testing.T) {
	broke := errors.New("broke")
	dst := &sink{fail: func(int) error { return broke }}
	w := New(dst, Config{})
	_, err := w.Write([]byte("a"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return w.Err() != nil }, 5*time.Second, time.Millisecond)
	assert.Equal(t, uint64(1), w.Stop(errors.New("later")))
	assert.ErrorIs(t, w.Err(), broke)
	w.Close()
}
