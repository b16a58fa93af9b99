package flush

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// batchesBegun reports how many writes dst has begun.
func (s *sink) batchesBegun() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.batches)
}

// TestTryWriteOnlyWhenIdle: TryWrite writes nothing while bytes are
// pending, a write is in flight, Shutdown has begun or a write failed;
// otherwise it writes p and body in the caller's goroutine.
func TestTryWriteOnlyWhenIdle(t *testing.T) {
	dst := &sink{gate: make(chan struct{})}
	w := New(dst, Config{})
	_, err := w.Write([]byte("a")) // the flusher takes it and waits at the gate
	require.NoError(t, err)
	require.Eventually(t, func() bool { return dst.batchesBegun() == 1 }, 5*time.Second, time.Millisecond)
	released := false
	defer func() {
		if !released {
			close(dst.gate) // a TryWrite that wrote must not hang the test
		}
	}()
	try := func() bool { // TryWrite, failing rather than hanging at the gate
		done := make(chan bool, 1)
		go func() {
			_, ok, err := w.TryWrite([]byte("x"), nil)
			assert.NoError(t, err)
			done <- ok
		}()
		select {
		case ok := <-done:
			return ok
		case <-time.After(5 * time.Second):
			t.Fatal("TryWrite wrote behind the write in flight")
			return true
		}
	}
	assert.False(t, try(), "a write is in flight")
	_, err = w.Write([]byte("b")) // pending behind it
	require.NoError(t, err)
	assert.False(t, try(), "bytes are pending")
	released = true
	close(dst.gate)
	require.Eventually(t, func() bool { return string(dst.bytes()) == "ab" }, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { // the flusher's write has ended
		w.mu.Lock()
		defer w.mu.Unlock()
		return !w.writing && w.pending() == 0
	}, 5*time.Second, time.Millisecond)
	n, ok, err := w.TryWrite([]byte("c"), []byte("de"))
	require.True(t, ok)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	assert.Equal(t, "abcde", string(dst.bytes()), "written before TryWrite returned")
	require.NoError(t, w.Close())
	_, ok, _ = w.TryWrite([]byte("x"), nil)
	assert.False(t, ok, "closed")

	failing := New(&sink{fail: func(int) error { return errors.New("broken") }}, Config{})
	_, ok, err = failing.TryWrite([]byte("x"), nil)
	assert.True(t, ok)
	require.Error(t, err)
	_, ok, _ = failing.TryWrite([]byte("y"), nil)
	assert.False(t, ok, "after a failure")
	require.NoError(t, failing.Close())
}

// TestTryWriteInFlightAtClose: Close while a TryWrite is being written,
// with the flusher running, waits for that write (the flusher waits for
// TryWrite to kick it) and then finishes: nothing is lost, nothing hangs.
func TestTryWriteInFlightAtClose(t *testing.T) {
	dst := &sink{gate: make(chan struct{}, 1)}
	w := New(dst, Config{Idle: time.Minute}) // the flusher stays
	dst.gate <- struct{}{}
	_, err := w.Write([]byte("a"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return string(dst.bytes()) == "a" }, 5*time.Second, time.Millisecond)
	tried := make(chan bool, 1)
	go func() {
		_, ok, _ := w.TryWrite([]byte("b"), nil)
		tried <- ok
	}()
	require.Eventually(t, func() bool { return dst.batchesBegun() == 2 }, 5*time.Second, time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- w.Close() }()
	require.Eventually(t, func() bool { // Shutdown began, and its kick woke the flusher
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.closing && len(w.wake) == 0
	}, 5*time.Second, time.Millisecond)
	dst.gate <- struct{}{} // TryWrite's write ends
	select {
	case ok := <-tried:
		assert.True(t, ok)
	case <-time.After(5 * time.Second):
		t.Fatal("TryWrite never returned")
	}
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for a flusher nobody woke")
	}
	assert.Equal(t, "ab", string(dst.bytes()))
	assert.Equal(t, int32(1), dst.closed.Load())
}

// TestTryWriteLetsTheFlusherIdle: writes made by TryWrite do not wake a
// flusher that waits for work: it exits after Idle although they go on
// (each used to wake it, and reset its idle time: a hand-off per write,
// and a goroutine kept while a quiet writer wrote).
func TestTryWriteLetsTheFlusherIdle(t *testing.T) {
	w := New(&sink{}, Config{Idle: 20 * time.Millisecond})
	defer w.Close()
	_, err := w.Write([]byte("a")) // starts the flusher
	require.NoError(t, err)
	running := func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.running
	}
	deadline := time.Now().Add(2 * time.Second)
	tries := 0
	for running() && time.Now().Before(deadline) {
		_, _, err := w.TryWrite([]byte("b"), nil)
		require.NoError(t, err)
		tries++
	}
	assert.False(t, running(), "the flusher still runs after %d TryWrites in 2 s", tries)
}
