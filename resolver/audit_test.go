package resolver_test

// Tests of resolver's doc promises that the other tests leave open.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/resolver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAuditManualSeesEveryUpdateAndFail checks Manual's "Every Watcher
// sees every Update and Fail made after its previous Next returned
// (updates in between coalesce into the latest)": an Update followed by a
// Fail yields both, the set and then the error, and a Fail followed by an
// Update yields the error and then the set. The set is not lost behind
// the Fail.
func TestAuditManualSeesEveryUpdateAndFail(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	boom := errors.New("boom")
	m := resolver.NewManual(resolver.Endpoint{Addr: "a:1"})
	w, err := m.Watch(ctx)
	require.NoError(t, err)
	defer w.Close()
	set, err := w.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, []resolver.Endpoint{{Addr: "a:1"}}, set)

	m.Update(resolver.Endpoint{Addr: "b:1"})
	m.Update(resolver.Endpoint{Addr: "c:1"})
	m.Fail(boom)
	set, err = w.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, []resolver.Endpoint{{Addr: "c:1"}}, set, "the latest set first")
	_, err = w.Next(ctx)
	assert.ErrorIs(t, err, boom, "then the Fail made after it")

	m.Fail(boom)
	m.Update(resolver.Endpoint{Addr: "d:1"})
	_, err = w.Next(ctx)
	assert.ErrorIs(t, err, boom, "the Fail first")
	set, err = w.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, []resolver.Endpoint{{Addr: "d:1"}}, set, "then the set made after it")

	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	_, err = w.Next(short)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "each once")
}

// TestAuditManualEmptyWaits checks NewManual's "without [endpoints],
// Watchers wait for the first Update", and Watcher.Next's "when ctx ends,
// it returns an error at once".
func TestAuditManualEmptyWaits(t *testing.T) {
	m := resolver.NewManual()
	w, err := m.Watch(t.Context())
	require.NoError(t, err)
	defer w.Close()
	short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	_, err = w.Next(short)
	cancel()
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	got := make(chan []resolver.Endpoint, 1)
	go func() {
		set, _ := w.Next(t.Context())
		got <- set
	}()
	m.Update(resolver.Endpoint{Addr: "a:1"})
	select {
	case set := <-got:
		assert.Equal(t, []resolver.Endpoint{{Addr: "a:1"}}, set)
	case <-time.After(5 * time.Second):
		t.Fatal("the first Update did not reach the waiting Watcher")
	}

	ended, cancelEnded := context.WithCancel(t.Context())
	cancelEnded()
	start := time.Now()
	_, err = w.Next(ended)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), time.Second)
}

// TestAuditStaticForever checks Static's "whose set is addrs, forever":
// after the first set, Next blocks until its ctx ends.
func TestAuditStaticForever(t *testing.T) {
	w, err := resolver.Static("a:1").Watch(t.Context())
	require.NoError(t, err)
	defer w.Close()
	_, err = w.Next(t.Context())
	require.NoError(t, err)
	w.ResolveNow() // never blocks, changes nothing
	short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err = w.Next(short)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}
