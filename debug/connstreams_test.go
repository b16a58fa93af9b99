package debug_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/debug"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConnStreamsFollowStreamingCalls: ConnStats.Streams counts the
// streaming calls open on a connection, not its call stream: it rises
// with each stream a client opens over loopback TCP and is back to 0 once
// they have all closed (it stayed at 1, the session's call stream).
func TestConnStreamsFollowStreamingCalls(t *testing.T) {
	st := debug.New()
	s := server.New(st.Option())
	require.NoError(t, server.HandleBidi(s, "Chat.Echo", func(ctx context.Context, bs *server.BidiStream[string, string]) error {
		for {
			m, err := bs.Recv()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := bs.Send(m); err != nil {
				return err
			}
		}
	}))
	c, _ := ferrytest.ServeAndDial(t, s)
	conn := func() debug.ConnStats {
		snap := st.Snapshot(s)
		require.Len(t, snap.Conns, 1)
		return snap.Conns[0]
	}
	assert.Equal(t, 0, conn().Streams, "no stream opened yet")
	assert.Equal(t, 1, conn().CallStreams, "the session's call stream")

	var open []*client.BidiStream[string, string]
	for i := range 3 {
		bs, err := client.OpenBidi[string, string](t.Context(), c, "Chat.Echo")
		require.NoError(t, err)
		m := "ping"
		require.NoError(t, bs.Send(&m))
		_, err = bs.Recv() // its handler runs
		require.NoError(t, err)
		open = append(open, bs)
		assert.Equal(t, i+1, conn().Streams)
	}
	for _, bs := range open {
		require.NoError(t, bs.CloseSend())
		_, err := bs.Recv()
		require.ErrorIs(t, err, io.EOF)
		bs.Close()
	}
	require.Eventually(t, func() bool { return conn().Streams == 0 }, 5*time.Second, time.Millisecond,
		"streams open after all closed: %d", conn().Streams)
	assert.Equal(t, 1, conn().CallStreams)
}
