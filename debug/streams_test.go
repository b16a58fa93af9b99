package debug_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/debug"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStreamsAreCounted(t *testing.T) {
	st := debug.New()
	s := server.New(st.Option())
	entered, release := make(chan struct{}), make(chan struct{})
	require.NoError(t, server.HandleBidi(s, "Chat.Echo", func(ctx context.Context, bs *server.BidiStream[string, string]) error {
		for {
			m, err := bs.Recv()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if *m == "hold" {
				entered <- struct{}{}
				<-release
			}
			if *m == "fail" {
				return ferry.NewError(ferry.CodeAborted, "asked to")
			}
			if err := bs.Send(m); err != nil {
				return err
			}
		}
	}))
	require.NoError(t, s.HandleStream("Feed.Idle", server.ServerStream, func(ctx context.Context, _ *server.Stream) (any, error) { return nil, nil }))
	require.NoError(t, s.Register(Arith{}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(l) }()
	c, err := client.Dial(t.Context(), l.Addr().String())
	require.NoError(t, err)
	defer func() { c.Close(); s.Close(); <-done }()

	run := func(msgs ...string) error {
		bs, err := client.OpenBidi[string, string](t.Context(), c, "Chat.Echo")
		require.NoError(t, err)
		defer bs.Close()
		for _, m := range msgs {
			require.NoError(t, bs.Send(&m))
			if _, err := bs.Recv(); err != nil {
				return err
			}
		}
		require.NoError(t, bs.CloseSend())
		_, err = bs.Recv()
		if err == io.EOF {
			return nil
		}
		return err
	}
	require.NoError(t, run("a", "b"))
	require.Error(t, run("c", "fail"))

	// One stream held open.
	held, err := client.OpenBidi[string, string](t.Context(), c, "Chat.Echo")
	require.NoError(t, err)
	hold := "hold"
	require.NoError(t, held.Send(&hold))
	<-entered

	snap := st.Snapshot(s)
	require.Len(t, snap.Streams, 2)
	echo := snap.Streams[0]
	assert.Equal(t, "Chat.Echo", echo.Name)
	assert.Equal(t, "bidi", echo.Kind)
	assert.Equal(t, int64(1), echo.Open)
	assert.Equal(t, uint64(3), echo.Opened)
	assert.Equal(t, uint64(5), echo.Received) // a, b, c, fail, hold
	assert.Equal(t, uint64(3), echo.Sent)
	assert.Equal(t, uint64(1), echo.Errors)
	assert.Equal(t, map[string]uint64{"aborted": 1}, echo.Codes)
	assert.Positive(t, echo.Max)
	assert.Equal(t, debug.StreamStats{Name: "Feed.Idle", Kind: "server"}, snap.Streams[1])
	for _, m := range snap.Methods {
		assert.Equal(t, "unary", m.Kind, "streams are listed apart: %s", m.Name)
	}

	rec := httptest.NewRecorder()
	st.Handler(s).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/ferry", nil))
	assert.Contains(t, rec.Body.String(), `<tr class="stream" data-method="Chat.Echo"><td>Chat.Echo</td><td>bidi</td>`)
	assert.Contains(t, rec.Body.String(), `<td class="open">1</td><td class="opened">3</td>`)

	close(release)
	_, err = held.Recv()
	require.NoError(t, err)
	require.NoError(t, held.Close())
}
