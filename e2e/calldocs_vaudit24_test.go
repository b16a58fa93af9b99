package e2e_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit24OptionRanges: each option whose doc gives a range makes
// Serve (server) or Dial (client) fail outside it, and takes its ends.
func TestVaudit24OptionRanges(t *testing.T) {
	bad := map[string]server.Option{
		"calls 0":          server.WithMaxConcurrentCalls(0),
		"calls 2^20+1":     server.WithMaxConcurrentCalls(1<<20 + 1),
		"budget 1 MiB - 1": server.WithMemoryBudget(1<<20 - 1),
		"budget 1 TiB + 1": server.WithMemoryBudget(1<<40 + 1),
		"conn limits -1":   server.WithConnLimits(-1, 0),
		"config invalid":   server.WithConfig(transport.Config{}),
	}
	for name, opt := range bad {
		s := server.New(opt)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		assert.Error(t, s.Serve(l), name)
		a, b := net.Pipe()
		assert.Error(t, s.ServeConn(a), name)
		a.Close()
		b.Close()
		s.Close()
	}
	for name, opt := range map[string]server.Option{
		"calls 1":       server.WithMaxConcurrentCalls(1),
		"calls 2^20":    server.WithMaxConcurrentCalls(1 << 20),
		"budget 1 MiB":  server.WithMemoryBudget(1 << 20),
		"budget 1 TiB":  server.WithMemoryBudget(1 << 40),
		"conn limits 0": server.WithConnLimits(0, 0),
	} {
		s := server.New(opt)
		c, _ := ferrytest.ServeAndDial(t, s)
		err := c.Call(t.Context(), "No.Such", nil, nil)
		assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err), "%s: %v", name, err)
		assert.True(t, ferry.NotExecuted(err), "%s: %v", name, err)
	}
	s := newServer(t)
	addr := ferrytest.Serve(t, s)
	for name, opt := range map[string]client.Option{
		"calls 0":        client.WithMaxConcurrentCalls(0),
		"calls 2^20+1":   client.WithMaxConcurrentCalls(1<<20 + 1),
		"config invalid": client.WithConfig(transport.Config{}),
		"nil tls":        client.WithTLS(nil),
	} {
		_, err := client.Dial(t.Context(), addr, opt)
		assert.Error(t, err, name)
	}
	c := ferrytest.Dial(t, addr)
	assert.Equal(t, 4<<20, c.MaxMessageSize(), "4 MiB by default")
}

// TestVaudit24ConcurrencyBound: WithMaxConcurrentCalls(1): one call runs,
// one waits, the next is refused at once (resource_exhausted, not
// executed); a stream takes a slot but never queues.
func TestVaudit24ConcurrencyBound(t *testing.T) {
	b := newBlocker()
	s := v24Server(t, server.WithMaxConcurrentCalls(1))
	require.NoError(t, server.Handle(s, "B.Block", b.handle))
	c := dialTCP(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	first := c.Go(ctx, "B.Block", nil, nil)
	<-b.started
	second := c.Go(ctx, "B.Block", nil, nil)
	// The second is queued once the third is refused; retry the third
	// until the second has surely arrived (bounded).
	var err error
	require.Eventually(t, func() bool {
		err = c.Call(t.Context(), "Echo.Echo", 1, nil)
		return err != nil
	}, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err))

	st, err := c.NewStream(t.Context(), "S.Echo")
	if err == nil {
		err = st.Recv(new(int))
		st.Close()
	}
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "a stream never queues: %v", err)
	assert.True(t, ferry.NotExecuted(err), "%v", err)

	cancel()
	assert.Error(t, first.Wait())
	assert.Error(t, second.Wait())
}

// TestVaudit24GoCallNotify: Call, Go, Wait, Err, Async and Notify as
// their docs say.
func TestVaudit24GoCallNotify(t *testing.T) {
	refused := make(chan string, 64)
	s := newServer(t, server.WithRefused(func(method string, err *ferry.Error) { refused <- method + " " + err.Code.String() }))
	c := dialTCP(t, s)
	ctx := t.Context()

	var sum int64
	call := c.Go(ctx, "Arith.Add", []int{3, 4}, &sum)
	assert.Equal(t, "Arith.Add", call.Method)
	assert.Equal(t, &sum, call.Reply)
	<-call.Done()
	<-call.Done() // any number of waits
	require.NoError(t, call.Err())
	require.NoError(t, call.Wait())
	assert.Equal(t, int64(7), sum)

	f := client.Async[int64](ctx, c, "Arith.Add", []int{1, 2})
	<-f.Done()
	v, err := f.Wait()
	require.NoError(t, err)
	assert.Equal(t, int64(3), *v)

	blocked := c.Go(ctx, "Echo.Sleep", 10_000, nil)
	assert.NoError(t, blocked.Err(), "nil before Done is closed")

	var notNil int64
	for name, err := range map[string]error{
		//lint:ignore SA1012 the doc's case: a nil ctx is refused
		"nil ctx Call": c.Call(nil, "Arith.Add", []int{1, 2}, &notNil), //nolint:staticcheck // the doc's case
		//lint:ignore SA1012 the doc's case: a nil ctx is refused
		"nil ctx Go": c.Go(nil, "Arith.Add", []int{1, 2}, &notNil).Wait(), //nolint:staticcheck // the doc's case
		//lint:ignore SA1012 the doc's case: a nil ctx is refused
		"nil ctx Notify":        c.Notify(nil, "Arith.Add", []int{1, 2}), //nolint:staticcheck // the doc's case
		"non-pointer reply":     c.Call(ctx, "Arith.Add", []int{1, 2}, notNil),
		"nil pointer reply":     c.Call(ctx, "Arith.Add", []int{1, 2}, (*int64)(nil)),
		"nil ctx Go, bad reply": c.Go(ctx, "Arith.Add", []int{1, 2}, notNil).Wait(),
	} {
		assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "%s: %v", name, err)
		assert.True(t, ferry.NotExecuted(err), "%s: %v", name, err)
	}
	//lint:ignore SA1012 the doc's case: a nil ctx is refused
	_, err = c.NewStream(nil, "S.Echo") //nolint:staticcheck // the doc's case
	assert.True(t, ferry.NotExecuted(err), "nil ctx NewStream: %v", err)
	//lint:ignore SA1012 the doc's case: a nil ctx is refused
	_, err = client.OpenBidi[int, int](nil, c, "S.Echo") //nolint:staticcheck // the doc's case
	assert.True(t, ferry.NotExecuted(err), "nil ctx OpenBidi: %v", err)

	// A result that does not fit: internal, not NotExecuted, and the
	// connection goes on.
	var s2 string
	err = c.Call(ctx, "Arith.Add", []int{1, 2}, &s2)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
	assert.False(t, ferry.NotExecuted(err))
	require.NoError(t, c.Call(ctx, "Arith.Add", []int{1, 2}, &sum))

	// The README's: [3.5, 4] is invalid_argument naming argument 1 (A).
	err = c.Call(ctx, "Arith.Add", client.Params{3.5, 4}, &sum)
	assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err))
	assert.Contains(t, err.Error(), "Arith.Add: argument 1 (A): want an integer, got 3.5")
	assert.False(t, ferry.NotExecuted(err), "PROTOCOL.md 3: a call refused for its arguments carries no flag")
	err = c.Call(ctx, "Arith.Add", client.Params{3, 4, 5}, &sum)
	assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "more params than fields: %v", err)
	err = c.Call(ctx, "Arith.Add", map[string]int{"X": 1}, &sum)
	assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "a map none of whose keys names a field: %v", err)
	err = c.Call(ctx, "Arith.Add", map[string]any{"A": 1, "Z": 1}, &sum)
	assert.NoError(t, err, "a key that names no field is skipped")
	err = c.Call(ctx, "Arith.Add", client.Params{-1.0, "4"}, &sum)
	assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "a string never fits a number: %v", err)
	require.NoError(t, c.Call(ctx, "Arith.Add", client.Params{4.0, 1}, &sum), "4.0 fits an int")
	assert.Equal(t, int64(5), sum)

	// Notify: no reply, no report, even for a failing or unknown method;
	// refused ones are reported to WithRefused.
	require.NoError(t, c.Notify(ctx, "Echo.Fail", nil))
	require.NoError(t, c.Notify(ctx, "No.Such", nil))
	deadline := time.After(5 * time.Second)
	for found := false; !found; {
		select {
		case r := <-refused:
			found = r == " unimplemented"
		case <-deadline:
			t.Fatal("the refused notification was not reported")
		}
	}
	require.NoError(t, c.Call(ctx, "Echo.Echo", 1, nil), "the connection goes on")
}
