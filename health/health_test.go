package health_test

import (
	"bytes"
	"net"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/health"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, srv *server.Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return l.Addr().String()
}

func TestCheck(t *testing.T) {
	srv := server.New()
	hs := health.NewServer()
	require.NoError(t, hs.Register(srv))
	c, err := client.Dial(t.Context(), start(t, srv))
	require.NoError(t, err)
	defer c.Close()

	check := func(service string) health.Status {
		s, err := health.Check(t.Context(), c, service)
		require.NoError(t, err)
		return s
	}
	assert.Equal(t, health.Serving, check(""))
	assert.Equal(t, health.Unknown, check("Orders"))
	hs.SetStatus("Orders", health.NotServing)
	assert.Equal(t, health.NotServing, check("Orders"))
	hs.SetStatus("Orders", health.Serving)
	assert.Equal(t, health.Serving, check("Orders"))

	hs.Shutdown()
	assert.Equal(t, health.NotServing, check(""))
	assert.Equal(t, health.NotServing, check("Orders"))
	hs.SetStatus("Orders", health.Serving) // ignored after Shutdown
	assert.Equal(t, health.NotServing, check("Orders"))
}

func TestCheckWithoutHealthService(t *testing.T) {
	c, err := client.Dial(t.Context(), start(t, server.New()))
	require.NoError(t, err)
	defer c.Close()
	_, err = health.Check(t.Context(), c, "")
	assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err))
}

// The wire shape is plain maps with the documented keys, so that a client
// in any language can check: send {"service": ""} over bare
// MessagePack-RPC and read {"status": "SERVING"}.
func TestWireShape(t *testing.T) {
	srv := server.New()
	require.NoError(t, health.NewServer().Register(srv))
	addr := start(t, srv)
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer nc.Close()
	req, err := msgpack.Marshal([]any{0, 7, "Health.Check", []any{map[string]any{"service": ""}}})
	require.NoError(t, err)
	_, err = nc.Write(req)
	require.NoError(t, err)
	var resp []any
	require.NoError(t, msgpack.NewDecoder(nc).Decode(&resp))
	require.Len(t, resp, 4)
	assert.Nil(t, resp[2])
	assert.Equal(t, map[string]any{"status": "SERVING"}, resp[3])

	b, err := msgpack.Marshal(&health.CheckRequest{Service: "x"})
	require.NoError(t, err)
	want, _ := msgpack.Marshal(map[string]any{"service": "x"})
	assert.True(t, bytes.Equal(want, b))
}
