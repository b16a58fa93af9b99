package e2e_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit24Refused: WithRefused sees each refusal its doc lists, with
// the registered name (or "" for one not registered) and the error sent
// back; interceptors never see them.
func TestVaudit24Refused(t *testing.T) {
	refused := make(chan string, 32)
	intercepted := make(chan string, 32)
	s := v24Server(t,
		server.WithMaxConcurrentCalls(1),
		server.WithRefused(func(method string, err *ferry.Error) {
			refused <- fmt.Sprintf("%q %s", method, err.Code)
		}),
		server.WithInterceptors(func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
			intercepted <- info.Method
			return next(ctx, args)
		}),
		server.WithStreamInterceptors(func(ctx context.Context, info *ferry.StreamInfo, st ferry.ServerStream, next ferry.StreamHandler) (any, error) {
			intercepted <- info.Method
			return next(ctx, st)
		}))
	b := newBlocker()
	require.NoError(t, server.Handle(s, "B.Block", b.handle))
	c := dialTCP(t, s)
	ctx := t.Context()
	next := func(what string) string {
		t.Helper()
		select {
		case r := <-refused:
			return r
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: not reported", what)
			return ""
		}
	}
	call := func(method string, args any) error { return c.Call(ctx, method, args, nil) }
	stream := func(method string) error {
		st, err := c.NewStream(ctx, method)
		if err == nil {
			err = st.Recv(new(int))
			st.Close()
		}
		return err
	}

	assert.Error(t, call("Arith.Add", client.Params{3.5, 4}))
	assert.Equal(t, `"Arith.Add" invalid_argument`, next("bad args"))
	assert.Error(t, call("No.Such", nil))
	assert.Equal(t, `"" unimplemented`, next("unknown method"))
	assert.Error(t, stream("No.Such"))
	assert.Equal(t, `"" unimplemented`, next("unknown stream"))
	assert.Error(t, stream("Echo.Echo"))
	assert.Equal(t, `"Echo.Echo" unimplemented`, next("stream to a unary method"))
	assert.Error(t, call("S.Echo", 1))
	assert.Equal(t, `"S.Echo" unimplemented`, next("unary request to a stream"))
	assert.Error(t, c.Call(ferry.WithOutgoingMetadata(ctx, ferry.Metadata{"x": string(make([]byte, 70<<10))}), "Echo.Echo", 1, nil))
	assert.Equal(t, `"Echo.Echo" invalid_argument`, next("metadata past its bound"))
	require.NoError(t, c.Notify(ctx, "No.Such", nil))
	assert.Equal(t, `"" unimplemented`, next("a notification"))

	bctx, cancel := context.WithCancel(ctx)
	held := c.Go(bctx, "B.Block", nil, nil)
	<-b.started
	<-intercepted // B.Block's
	queued := c.Go(bctx, "B.Block", nil, nil)
	var err error
	require.Eventually(t, func() bool { err = call("Echo.Echo", 1); return err != nil }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, `"Echo.Echo" resource_exhausted`, next("concurrency"))
	// Echo.Echo calls that got through before the queue filled were
	// intercepted: drain them.
	for len(intercepted) > 0 {
		assert.Equal(t, "Echo.Echo", <-intercepted)
	}
	cancel()
	assert.Error(t, held.Wait())
	assert.Error(t, queued.Wait())
	r := next("queued, canceled")
	assert.Contains(t, []string{`"B.Block" canceled`, `"B.Block" deadline_exceeded`}, r)
	assert.Empty(t, intercepted, "interceptors never see refused calls")
}
