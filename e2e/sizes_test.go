package e2e_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUnaryMessagesPastTheLimit: a Ferry connection's unary calls share
// one call stream, which the receiver closes on a message past its limit,
// ending every call on the connection. So neither side sends one: a
// request past the limit is refused by the caller (resource_exhausted,
// not executed), a reply past it is replaced by a resource_exhausted
// error (the handler ran), an error's message is cut to 64 KiB and
// details past the metadata bounds are dropped (the code stays). A call
// in flight meanwhile completes, and the connection goes on. Payloads
// just under the limit pass both ways.
func TestUnaryMessagesPastTheLimit(t *testing.T) {
	const limit = 4 << 20 // the default MaxMessageSize
	s := newServer(t)
	release := make(chan struct{})
	require.NoError(t, server.Handle(s, "Size.Wait", func(ctx context.Context, _ *struct{}) (*string, error) {
		<-release
		ok := "done"
		return &ok, nil
	}))
	require.NoError(t, server.Handle(s, "Size.Reply", func(ctx context.Context, n *int) (*[]byte, error) {
		b := make([]byte, *n)
		return &b, nil
	}))
	require.NoError(t, server.Handle(s, "Size.Fail", func(ctx context.Context, n *int) (*struct{}, error) {
		return nil, ferry.Errorf(ferry.CodeFailedPrecondition, "%s", strings.Repeat("x", *n))
	}))
	require.NoError(t, server.Handle(s, "Size.Details", func(ctx context.Context, n *int) (*struct{}, error) {
		fe := ferry.NewError(ferry.CodeAborted, "with details")
		fe.Details = map[string]string{"big": strings.Repeat("d", *n)}
		return nil, fe
	}))
	c := dialTCP(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	var wg sync.WaitGroup
	wg.Add(1)
	var waited string
	var waitErr error
	go func() {
		defer wg.Done()
		waitErr = c.Call(ctx, "Size.Wait", struct{}{}, &waited)
	}()

	t.Run("requests", func(t *testing.T) {
		for _, n := range []int{1 << 10, 64 << 10, limit - 1024} {
			var got []byte
			require.NoError(t, c.Call(ctx, "Echo.Echo", make([]byte, n), &got), "%d bytes", n)
			assert.Len(t, got, n)
		}
		for _, n := range []int{limit - 10, limit, 8 << 20} {
			err := c.Call(ctx, "Echo.Echo", make([]byte, n), nil)
			assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%d bytes: %v", n, err)
			assert.True(t, ferry.NotExecuted(err), "%d bytes", n)
			assert.Contains(t, err.Error(), "larger than the 4194304-byte message limit")
		}
	})
	t.Run("replies", func(t *testing.T) {
		for _, n := range []int{1 << 10, 64 << 10, limit - 64} {
			var got []byte
			require.NoError(t, c.Call(ctx, "Size.Reply", n, &got), "%d bytes", n)
			assert.Len(t, got, n)
		}
		for _, n := range []int{limit - 8, limit, 8 << 20} {
			var got []byte
			err := c.Call(ctx, "Size.Reply", n, &got)
			assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%d bytes: %v", n, err)
			assert.False(t, ferry.NotExecuted(err), "the handler ran")
		}
	})
	t.Run("error messages", func(t *testing.T) {
		for _, n := range []int{1 << 10, 64 << 10, limit, 8 << 20} {
			err := c.Call(ctx, "Size.Fail", n, nil)
			var fe *ferry.Error
			require.ErrorAs(t, err, &fe, "%d bytes", n)
			assert.Equal(t, ferry.CodeFailedPrecondition, fe.Code, "%d bytes", n)
			assert.LessOrEqual(t, len(fe.Message), 64<<10, "%d bytes", n)
			want := n
			if n > 64<<10 {
				want = 64<<10 - len("…") // cut, and marked
				assert.True(t, strings.HasSuffix(fe.Message, "…"), "%d bytes", n)
			}
			assert.Equal(t, want, strings.Count(fe.Message, "x"), "%d bytes", n)
		}
	})
	t.Run("error details", func(t *testing.T) {
		err := c.Call(ctx, "Size.Details", 1<<10, nil)
		var fe *ferry.Error
		require.ErrorAs(t, err, &fe)
		assert.Len(t, fe.Details["big"], 1<<10)
		for _, n := range []int{64 << 10, 1 << 20} {
			err := c.Call(ctx, "Size.Details", n, nil)
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, ferry.CodeAborted, fe.Code, "%d bytes", n)
			assert.Nil(t, fe.Details, "%d bytes", n)
		}
	})

	close(release)
	wg.Wait()
	require.NoError(t, waitErr, "the call in flight completes")
	assert.Equal(t, "done", waited)
}
