package stream_test

import (
	"context"
	"testing"

	"github.com/ferryrpc/ferry/internal/stream"
	"github.com/stretchr/testify/assert"
)

// TestCancelsBeforeTrack: a cancel for a stream not tracked yet is
// remembered, and Track cancels that call at once; a tracked call is
// canceled at once; an untracked stream's later cancel is not applied to
// another id.
func TestCancelsBeforeTrack(t *testing.T) {
	var c stream.Cancels
	ctx1, cancel1 := context.WithCancel(context.Background())
	defer cancel1()
	untrack := c.Track(1, cancel1)
	c.Cancel(1)
	assert.ErrorIs(t, ctx1.Err(), context.Canceled, "tracked: canceled at once")
	untrack()

	c.Cancel(3)
	ctx3, cancel3 := context.WithCancel(context.Background())
	defer cancel3()
	c.Track(3, cancel3)()
	assert.ErrorIs(t, ctx3.Err(), context.Canceled, "canceled before Track")

	ctx5, cancel5 := context.WithCancel(context.Background())
	defer cancel5()
	c.Track(5, cancel5)()
	assert.NoError(t, ctx5.Err(), "never canceled")
}

// TestCancelsPendingBounded: at most 64 early cancels are remembered; the
// smallest ids (the oldest) go first.
func TestCancelsPendingBounded(t *testing.T) {
	var c stream.Cancels
	for id := uint32(1); id <= 1000; id++ {
		c.Cancel(id)
	}
	c.Cancel(0) // older than all: not kept
	check := func(id uint32) bool {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c.Track(id, cancel)()
		return ctx.Err() != nil
	}
	assert.False(t, check(0))
	assert.False(t, check(936), "evicted")
	for id := uint32(937); id <= 1000; id++ {
		assert.True(t, check(id), "id %d kept", id)
	}
}
