package e2e_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit24StalledReaders: server.Stream.Send to a caller that reads
// nothing fails after WriteTimeout with unavailable ("stream write timed
// out") and the handler's context is canceled; client.Stream.Send to a
// handler that reads nothing fails the same way and ends the call; the
// connection goes on either way.
func TestVaudit24StalledReaders(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.WriteTimeout = 300 * time.Millisecond
	type end struct {
		send, ctx error
		n         int
	}
	ends := make(chan end, 1)
	chunk := strings.Repeat("x", 64<<10)
	s := newServer(t, server.WithConfig(cfg))
	require.NoError(t, s.HandleStream("S.Flood", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		for i := range 1000 {
			if err := st.Send(chunk); err != nil {
				<-ctx.Done()
				ends <- end{err, ctx.Err(), i}
				return nil, err
			}
		}
		ends <- end{}
		return nil, nil
	}))
	require.NoError(t, s.HandleStream("S.Deaf", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		<-ctx.Done()
		return nil, nil
	}))
	c := dialTCP(t, s, client.WithConfig(cfg))

	st, err := c.NewStream(t.Context(), "S.Flood")
	require.NoError(t, err)
	defer st.Close()
	select {
	case e := <-ends:
		assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(e.send), "%v", e.send)
		assert.Contains(t, fmtV(e.send), "stream write timed out")
		assert.ErrorIs(t, e.ctx, context.Canceled)
		assert.Less(t, e.n, 100)
	case <-time.After(10 * time.Second):
		t.Fatal("the handler's Send never failed")
	}

	deaf, err := c.NewStream(t.Context(), "S.Deaf")
	require.NoError(t, err)
	defer deaf.Close()
	var sendErr error
	for i := 0; i < 1000 && sendErr == nil; i++ {
		sendErr = deaf.Send(chunk)
	}
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(sendErr), "%v", sendErr)
	assert.Contains(t, fmtV(sendErr), "stream write timed out")
	err = deaf.Recv(nil)
	assert.Error(t, err, "the call ended")
	require.NoError(t, c.Call(t.Context(), "Echo.Echo", 1, nil), "the connection goes on")
}
