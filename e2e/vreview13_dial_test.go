package e2e_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview13DialFailuresNotExecuted checks Dial's doc: "A connection or
// handshake that fails, or that the server refuses, fails Dial with
// ferry.NotExecuted true", with a *ferry.Error and a code, for a closed
// port, a listener that closes at once, one that answers garbage, a
// context already ended, and an invalid option.
func TestVreview13DialFailuresNotExecuted(t *testing.T) {
	ctx := t.Context()
	check := func(name string, err error) {
		t.Helper()
		var fe *ferry.Error
		if assert.ErrorAs(t, err, &fe, "%s: %v", name, err) {
			assert.True(t, ferry.NotExecuted(err), "%s: %v", name, err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := l.Addr().String()
	require.NoError(t, l.Close())
	_, err = client.Dial(ctx, closed)
	check("closed port", err)
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err))

	serve := func(fn func(net.Conn)) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 2 {
				c, err := l.Accept()
				if err != nil {
					return
				}
				fn(c)
			}
		}()
		t.Cleanup(func() { l.Close(); <-done })
		return l.Addr().String()
	}
	_, err = client.Dial(ctx, serve(func(c net.Conn) { c.Close() }))
	check("closed at once", err)
	_, err = client.Dial(ctx, serve(func(c net.Conn) {
		_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
		c.Close()
	}))
	check("an HTTP server", err)

	ended, cancel := context.WithCancel(ctx)
	cancel()
	s := newServer(t)
	addr := listen(t, s)
	_, err = client.Dial(ended, addr)
	check("canceled ctx", err)
	assert.ErrorIs(t, err, context.Canceled)
	short, cancel2 := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel2()
	<-short.Done()
	_, err = client.Dial(short, addr)
	check("expired ctx", err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	cfg := transport.DefaultConfig()
	cfg.MaxMessageSize = 1
	_, err = client.Dial(ctx, addr, client.WithConfig(cfg))
	assert.Error(t, err, "an invalid option")

	sa := server.New(server.WithAuth(func(ctx context.Context, info ferry.AuthInfo) (any, error) {
		return nil, ferry.NewError(ferry.CodePermissionDenied, "no")
	}))
	t.Cleanup(func() { sa.Close() })
	_, err = client.Dial(ctx, listen(t, sa))
	check("refused by the server", err)
	assert.Equal(t, ferry.CodePermissionDenied, ferry.CodeOf(err))
}
