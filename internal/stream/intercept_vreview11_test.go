package stream_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/stream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// closeCounter is a ClientStream that counts its closes.
type closeCounter struct {
	ferry.ClientStream
	closes atomic.Int32
}

func (c *closeCounter) Close() error {
	c.closes.Add(1)
	return nil
}

// TestVreview11OpenStillRunningWhenTheInterceptorFails: an interceptor
// that called next from another goroutine and returns an error before
// next has returned called next all the same: the error is not flagged
// not executed (the opening may reach the peer), and the stream next
// opens afterwards is closed, since the caller gets none to close.
func TestVreview11OpenStillRunningWhenTheInterceptorFails(t *testing.T) {
	info := &ferry.StreamInfo{Method: "S.M"}
	started, release := make(chan struct{}), make(chan struct{})
	cs := &closeCounter{}
	open := func(context.Context, *ferry.StreamInfo) (ferry.ClientStream, error) {
		close(started)
		<-release
		return cs, nil
	}
	opened := make(chan struct{})
	ic := func(ctx context.Context, info *ferry.StreamInfo, next ferry.Streamer) (ferry.ClientStream, error) {
		go func() {
			defer close(opened)
			_, _ = next(ctx, info)
		}()
		<-started
		return nil, errors.New("gave up waiting for the stream")
	}
	_, err := stream.Open(t.Context(), ic, info, open)
	require.Error(t, err)
	assert.False(t, ferry.NotExecuted(err), "next was called: the opening may reach the peer: %v", err)
	close(release)
	select {
	case <-opened:
	case <-time.After(5 * time.Second):
		t.Fatal("next did not return")
	}
	assert.Equal(t, int32(1), cs.closes.Load(), "the stream opened after the failure is closed")
}
