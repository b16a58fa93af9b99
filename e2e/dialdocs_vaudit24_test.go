package e2e_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit24DialFailures: "A connection or handshake that fails, or
// that the server refuses, fails Dial with ferry.NotExecuted true"; a
// server that accepts but never answers fails Dial with ctx's code, and
// so does a ctx that ends before the TCP connection is made (it failed
// with unavailable, as if the server could not be reached).
func TestVaudit24DialFailures(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	_, err = client.Dial(t.Context(), addr)
	require.Error(t, err)
	assert.True(t, ferry.NotExecuted(err), "refused: %v", err)
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%v", err)

	silent, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer silent.Close()
	conns := make(chan net.Conn, 1)
	go func() {
		nc, err := silent.Accept()
		if err == nil {
			conns <- nc
		}
		close(conns)
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = client.Dial(ctx, silent.Addr().String())
	require.Error(t, err)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err), "%v", err)
	if nc, ok := <-conns; ok {
		nc.Close()
	}

	canceled, cancel2 := context.WithCancel(t.Context())
	cancel2()
	_, err = client.Dial(canceled, addr)
	assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err), "%v", err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.True(t, ferry.NotExecuted(err), "%v", err)

	past, cancel3 := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel3()
	_, err = client.Dial(past, addr)
	assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(err), "%v", err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.True(t, ferry.NotExecuted(err), "%v", err)
}
