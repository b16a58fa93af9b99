package flush

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fullWriter returns a writer whose flusher is stuck at dst's gate with
// 10 bytes while 500 more are pending, so that any Begin must wait.
func fullWriter(t *testing.T) (*Writer, *sink) {
	t.Helper()
	dst := &sink{gate: make(chan struct{})}
	w := New(dst, Config{HighWater: 100})
	_, err := w.Write(make([]byte, 10))
	require.NoError(t, err)
	require.Eventually(t, func() bool { dst.mu.Lock(); defer dst.mu.Unlock(); return len(dst.batches) == 1 },
		5*time.Second, time.Millisecond)
	_, err = w.Write(make([]byte, 500))
	require.NoError(t, err)
	return w, dst
}

// requireUnlocked fails t unless w's lock comes free within 5 s: a
// BeginContext that returned left it unlocked (the flusher and the
// contexts' callbacks may hold it for a moment, so no TryLock).
func requireUnlocked(t *testing.T, w *Writer) {
	t.Helper()
	locked := make(chan struct{})
	go func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		close(locked)
	}()
	select {
	case <-locked:
	case <-time.After(5 * time.Second):
		t.Fatal("a BeginContext left the writer locked")
	}
}

// TestBeginContextEnds: a BeginContext waiting for room returns its
// context's error once the context ends (deadline or cancel), with
// nothing queued and the writer unlocked; the bytes already queued are
// still written.
func TestBeginContextEnds(t *testing.T) {
	w, dst := fullWriter(t)

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	b, err := w.BeginContext(ctx)
	took := time.Since(t0)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Nil(t, b)
	assert.GreaterOrEqual(t, took, 40*time.Millisecond, "it waited for room until the deadline")
	assert.Less(t, took, 2*time.Second)

	ctx, cancel = context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := w.BeginContext(ctx)
		errc <- err
	}()
	select {
	case err := <-errc:
		t.Fatalf("BeginContext returned while the queue was full and ctx live: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-errc:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("BeginContext still waiting 5 s after its context was canceled")
	}

	// The writer is not left locked, and what was queued goes out.
	requireUnlocked(t, w)
	close(dst.gate)
	require.NoError(t, w.Close())
	assert.Len(t, dst.bytes(), 510)
}

// TestBeginContextRoom: with room, BeginContext does not look at its
// context, and a waiting BeginContext whose context never ends returns
// once room is made.
func TestBeginContextRoom(t *testing.T) {
	dst := &sink{}
	w := New(dst, Config{HighWater: 100})
	done, cancel := context.WithCancel(t.Context())
	cancel()
	b, err := w.BeginContext(done)
	require.NoError(t, err, "there is room: the ended context is not consulted")
	w.End(append(b, 1, 2, 3))
	require.NoError(t, w.Close())
	assert.Equal(t, []byte{1, 2, 3}, dst.bytes())

	w, full := fullWriter(t)
	got := make(chan error, 1)
	go func() {
		b, err := w.BeginContext(t.Context())
		if err == nil {
			w.End(append(b, 7))
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("BeginContext returned while the queue was full: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(full.gate)
	select {
	case err := <-got:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("BeginContext still waiting 5 s after room was made")
	}
	require.NoError(t, w.Close())
	assert.Len(t, full.bytes(), 511)
}
