package e2e_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/examples/arith/arith"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadmeShutdownAfterStreamEnds checks the README's "s.Shutdown(ctx)
// stops it gracefully" (and server.Shutdown's "waits for running handlers
// (unary and streaming) to finish") for a bidi call whose caller closed
// its side, so that the handler returned, but did not read the call's
// end: that call is over, and Shutdown does not wait for the caller.
func TestReadmeShutdownAfterStreamEnds(t *testing.T) {
	s := server.New()
	returned := make(chan struct{})
	require.NoError(t, server.HandleBidi(s, "Echo.Chat", func(ctx context.Context, st *server.BidiStream[string, string]) error {
		defer close(returned)
		for range 100 {
			m, err := st.Recv()
			if err != nil {
				return nil
			}
			if err := st.Send(m); err != nil {
				return err
			}
		}
		return nil
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()

	c, err := client.Dial(t.Context(), l.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	st, err := client.OpenBidi[string, string](t.Context(), c, "Echo.Chat")
	require.NoError(t, err)
	defer st.Close()
	m := "hi"
	require.NoError(t, st.Send(&m))
	r, err := st.Recv()
	require.NoError(t, err)
	require.Equal(t, "hi", *r)
	require.NoError(t, st.CloseSend())
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler did not return after CloseSend")
	}

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	start := time.Now()
	require.NoError(t, s.Shutdown(ctx), "the call was over: Shutdown waits for no one")
	assert.Less(t, time.Since(start), time.Second)
	require.ErrorIs(t, <-served, server.ErrServerClosed)
	_, err = st.Recv()
	assert.ErrorIs(t, err, io.EOF, "the call's end reached the caller")
}

// TestReadmeShutdownAfterServerStreamEnds is the same for a server stream
// (examples/arith's Counter.Count) whose handler sent its three messages
// and returned while the caller had read only the first: the call is
// over, and Shutdown does not wait for the caller to read the rest.
func TestReadmeShutdownAfterServerStreamEnds(t *testing.T) {
	s := server.New()
	require.NoError(t, arith.Register(s))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()

	c, err := client.Dial(t.Context(), l.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	n := int64(3)
	st, err := client.OpenServerStream[int64, int64](t.Context(), c, "Counter.Count", &n)
	require.NoError(t, err)
	defer st.Close()
	m, err := st.Recv()
	require.NoError(t, err)
	require.EqualValues(t, 1, *m)

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	start := time.Now()
	require.NoError(t, s.Shutdown(ctx), "the call was over: Shutdown waits for no one")
	assert.Less(t, time.Since(start), time.Second)
	require.ErrorIs(t, <-served, server.ErrServerClosed)
	for _, want := range []int64{2, 3} {
		m, err := st.Recv()
		require.NoError(t, err)
		assert.Equal(t, want, *m)
	}
	_, err = st.Recv()
	assert.ErrorIs(t, err, io.EOF, "the call's end reached the caller")
}
