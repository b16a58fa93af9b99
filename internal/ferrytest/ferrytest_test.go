package ferrytest_test

import (
	"context"
	"testing"

	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func echoServer(t *testing.T) *server.Server {
	s := server.New()
	require.NoError(t, server.Handle(s, "Echo.Echo", func(_ context.Context, v *string) (*string, error) { return v, nil }))
	return s
}

func TestServeAndDial(t *testing.T) {
	c, addr := ferrytest.ServeAndDial(t, echoServer(t))
	assert.Contains(t, addr, "127.0.0.1:")
	var got string
	require.NoError(t, c.Call(t.Context(), "Echo.Echo", "hi", &got))
	assert.Equal(t, "hi", got)

	second := ferrytest.Dial(t, addr) // a second connection to the same server
	require.NoError(t, second.Call(t.Context(), "Echo.Echo", "again", &got))
	assert.Equal(t, "again", got)
}

func TestPipe(t *testing.T) {
	c := ferrytest.Pipe(t, echoServer(t))
	var got string
	require.NoError(t, c.Call(t.Context(), "Echo.Echo", "hi", &got))
	assert.Equal(t, "hi", got)
}
