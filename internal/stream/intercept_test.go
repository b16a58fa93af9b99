package stream_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/stream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOpenKeepsTheOutcomeOfAnOpenThatRan: when the interceptor's next
// ran and failed, the error keeps its own outcome (an open that failed
// after its opening request went out may have started the handler);
// only an interceptor that refused before next is flagged not executed,
// whichever goroutine it calls next from.
func TestOpenKeepsTheOutcomeOfAnOpenThatRan(t *testing.T) {
	info := &ferry.StreamInfo{Method: "S.M"}
	lost := ferry.NewError(ferry.CodeUnavailable, "connection lost: may or may not have executed")
	open := func(context.Context, *ferry.StreamInfo) (ferry.ClientStream, error) { return nil, lost }
	for name, ic := range map[string]ferry.StreamClientInterceptor{
		"same goroutine": func(ctx context.Context, info *ferry.StreamInfo, next ferry.Streamer) (ferry.ClientStream, error) {
			return next(ctx, info)
		},
		"another goroutine": func(ctx context.Context, info *ferry.StreamInfo, next ferry.Streamer) (ferry.ClientStream, error) {
			var wg sync.WaitGroup
			var cs ferry.ClientStream
			var err error
			wg.Add(1)
			go func() {
				defer wg.Done()
				cs, err = next(ctx, info)
			}()
			wg.Wait()
			return cs, err
		},
	} {
		_, err := stream.Open(t.Context(), ic, info, open)
		require.Error(t, err, name)
		assert.False(t, ferry.NotExecuted(err), "%s: the open ran: %v", name, err)
		assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), name)
	}
	refuse := func(context.Context, *ferry.StreamInfo, ferry.Streamer) (ferry.ClientStream, error) {
		return nil, errors.New("refused by policy")
	}
	_, err := stream.Open(t.Context(), refuse, info, open)
	require.Error(t, err)
	assert.True(t, ferry.NotExecuted(err), "refused before open: %v", err)
}
