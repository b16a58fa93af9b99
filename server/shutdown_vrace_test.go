package server_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVraceShutdownCanceledCtxReplyInFlight: Shutdown's "returns ctx's
// error if ctx ends before the handlers finish, nil otherwise" with a ctx
// canceled before the call, on a connection whose one handler has
// returned and whose reply is still being written: no handler runs, no
// call is cut off, so nil. The handler was counted as running until its
// reply had been written (a large reply is written while the handler's
// goroutine waits; a small one is queued first), so Shutdown returned
// ctx's error; a caller that had its reply already saw the same now and
// then (TestShutdownCanceledCtxIdle failed once in 60 runs under load).
func TestVraceShutdownCanceledCtxReplyInFlight(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	big := make([]byte, 256<<10) // written by reference: the handler's goroutine waits for it
	s := server.New()
	require.NoError(t, server.Handle(s, "C.Big", func(context.Context, *struct{}) (*[]byte, error) { return &big, nil }))
	cc, sc := net.Pipe() // a write ends once it has all been read
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = s.ServeConn(sc)
	}()
	t.Cleanup(func() {
		cc.Close()
		<-served
	})
	req, err := codec.Marshal([]any{0, 1, "C.Big", []any{map[string]any{}}}) // plain MessagePack-RPC
	require.NoError(t, err)
	require.NoError(t, cc.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = cc.Write(req)
	require.NoError(t, err)
	// The reply has begun to arrive: its handler has returned, and waits
	// for the rest of it to be read.
	_, err = io.ReadFull(cc, make([]byte, 4<<10))
	require.NoError(t, err)
	assert.NoError(t, s.Shutdown(ctx), "the handler had returned: no call was cut off")
}

// TestVraceShutdownCanceledCtxStreamEnded: the same for a streaming call
// whose handler returned and whose final status its caller received: no
// handler runs, so nil. A streaming call was counted until its stream
// was released, which waits for the caller to close its side.
func TestVraceShutdownCanceledCtxStreamEnded(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range 20 {
		s := server.New()
		require.NoError(t, s.HandleStream("S.Done", server.Bidi, func(context.Context, *server.Stream) (any, error) {
			return nil, nil
		}))
		c, _ := ferrytest.ServeAndDial(t, s)
		st, err := c.NewStream(t.Context(), "S.Done")
		require.NoError(t, err)
		require.ErrorIs(t, st.Recv(nil), io.EOF)
		if !assert.NoError(t, s.Shutdown(ctx), "run %d: the handler returned and its status arrived", i) {
			return
		}
	}
}
