package engine

import (
	"context"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/meta"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCallCtxDeadlineWithoutDone(t *testing.T) {
	var c callCtx
	c.init(context.Background(), nil, time.Millisecond, true)
	require.Eventually(t, func() bool { return c.Err() != nil }, 5*time.Second, time.Millisecond)
	require.ErrorIs(t, c.Err(), context.DeadlineExceeded)
	select {
	case <-c.Done(): // made after the end: already closed
	default:
		t.Fatal("Done is open after the deadline")
	}
	assert.False(t, c.armed, "an ended context arms nothing")
}

func TestCallCtxPastDeadline(t *testing.T) {
	var c callCtx
	c.init(context.Background(), nil, 0, true)
	require.ErrorIs(t, c.Err(), context.DeadlineExceeded)
	d, ok := c.Deadline()
	require.True(t, ok)
	assert.False(t, d.After(time.Now()))
}

func TestCallCtxDoneAtDeadline(t *testing.T) {
	var c callCtx
	c.init(context.Background(), nil, 20*time.Millisecond, true)
	require.NoError(t, c.Err())
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed at the deadline")
	}
	require.ErrorIs(t, c.Err(), context.DeadlineExceeded)
}

func TestCallCtxParentEnds(t *testing.T) {
	for _, armed := range []bool{false, true} {
		parent, cancel := context.WithCancel(context.Background())
		var c callCtx
		c.init(parent, nil, 0, false)
		var done <-chan struct{}
		if armed {
			done = c.Done()
		}
		require.NoError(t, c.Err())
		cancel()
		if armed {
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Done not closed when the parent ended")
			}
		}
		require.ErrorIs(t, c.Err(), context.Canceled, "armed=%v", armed)
	}
}

func TestCallCtxEnd(t *testing.T) {
	var c callCtx
	c.init(context.Background(), nil, time.Hour, true)
	child, cancel := context.WithCancel(&c)
	defer cancel()
	stopped := make(chan struct{})
	stop := context.AfterFunc(&c, func() { close(stopped) })
	_ = stop
	ran := make(chan struct{})
	never := context.AfterFunc(&c, func() { close(ran) })
	require.True(t, never(), "stop before the end unregisters f")
	c.end(context.Canceled)
	c.end(context.DeadlineExceeded) // the first reason stays
	require.ErrorIs(t, c.Err(), context.Canceled)
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a derived context did not end")
	}
	require.ErrorIs(t, child.Err(), context.Canceled)
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("AfterFunc's f did not run")
	}
	select {
	case <-ran:
		t.Fatal("a stopped AfterFunc ran")
	default:
	}
	assert.False(t, c.timer.Stop(), "the timer was stopped at the end")
}

func TestCallCtxDeadlineIsTheEarlier(t *testing.T) {
	parent, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pd, _ := parent.Deadline()
	var c callCtx
	c.init(parent, nil, time.Hour, true)
	d, ok := c.Deadline()
	require.True(t, ok)
	assert.Equal(t, pd, d)
	var n callCtx
	n.init(parent, nil, 0, false)
	d, ok = n.Deadline()
	require.True(t, ok)
	assert.Equal(t, pd, d)
}

// TestCallCtxMetadata: a call's metadata is a value of the call context
// itself (no context of its own), found through contexts derived from
// it; other keys are the parent's.
func TestCallCtxMetadata(t *testing.T) {
	type k struct{}
	parent := context.WithValue(context.Background(), k{}, "parent's")
	in, err := meta.Parse([]byte{0x81, 0xa1, 'a', 0xa1, 'b'})
	require.NoError(t, err)
	var c callCtx
	c.init(parent, in, time.Hour, true)
	derived := context.WithValue(&c, struct{ x int }{}, 1)
	v, ok := ferry.IncomingMetadataValue(derived, "a")
	assert.True(t, ok)
	assert.Equal(t, "b", v)
	assert.Equal(t, ferry.Metadata{"a": "b"}, ferry.IncomingMetadata(derived))
	assert.Equal(t, "parent's", derived.Value(k{}))

	var none callCtx
	none.init(parent, nil, 0, false)
	assert.Nil(t, ferry.IncomingMetadata(&none))
	assert.Equal(t, "parent's", none.Value(k{}))
}
