package e2e_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/testsvc"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeTimeoutConfig is the configuration of both ends in the tests
// below: a short WriteTimeout.
func writeTimeoutConfig() transport.Config {
	cfg := transport.DefaultConfig()
	cfg.WriteTimeout = 300 * time.Millisecond
	return cfg
}

// sendUntilRefused sends messages of size bytes on a stream whose handler
// never receives, under a context without a deadline, until Send fails,
// and returns that failure. The loop is bounded (64 MiB in all, far past
// the stream's window), and so is the wait for it: a Send that blocks
// for good fails the test after 10 s (the stream's Close, deferred by
// the caller, then ends it).
func sendUntilRefused(t *testing.T, send func(*[]byte) error, size int) error {
	t.Helper()
	res := make(chan error, 1)
	go func() {
		m := make([]byte, size)
		for range (64 << 20) / size {
			if err := send(&m); err != nil {
				res <- err
				return
			}
		}
		res <- nil
	}()
	select {
	case err := <-res:
		require.Error(t, err, "64 MiB sent to a handler that never receives")
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("Send of %d-byte messages to a handler that never receives still blocks after 10 s", size)
		return nil
	}
}

// checkWriteTimedOut streams size-byte messages on st, whose handler
// (the peer's) never receives and reports its context's end on ended:
// Send fails with the write timeout's error, the handler's context ends,
// and c's connection still carries calls.
func checkWriteTimedOut(t *testing.T, st *client.BidiStream[[]byte, []byte], size int, ended <-chan error, c *client.Client) {
	t.Helper()
	t0 := time.Now()
	err := sendUntilRefused(t, st.Send, size)
	t.Logf("%d-byte messages: Send failed after %v: %v", size, time.Since(t0), err)
	var fe *ferry.Error
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, ferry.CodeUnavailable, fe.Code)
	assert.Contains(t, fe.Message, "write timed out")
	assert.False(t, ferry.NotExecuted(err), "the handler was running")
	select {
	case herr := <-ended:
		assert.Error(t, herr, "the handler's context ended")
	case <-time.After(5 * time.Second):
		t.Fatal("the peer's handler still runs after the write timed out")
	}
	var sum int64
	require.NoError(t, c.Call(t.Context(), "Arith.Add", testsvc.Args{A: 2, B: 3}, &sum), "the connection still carries calls")
	assert.Equal(t, int64(5), sum)
}

// TestCallingStreamWriteTimeout: "WriteTimeout bounds every write" holds
// for the side that opens a streaming call too. A client streams to a
// handler that never receives, under a context with no deadline: once
// the stream's window is full, its Send fails within about WriteTimeout,
// the call ends on the server (its handler's context is canceled), and
// the connection goes on carrying calls. The same holds for a stream the
// server opens to a client's handler.
func TestCallingStreamWriteTimeout(t *testing.T) {
	for _, size := range []int{1 << 10, 64 << 10} {
		t.Run(fmt.Sprintf("client/%d", size), func(t *testing.T) {
			ended := make(chan error, 1)
			s := newServer(t, server.WithConfig(writeTimeoutConfig()))
			require.NoError(t, server.HandleBidi(s, "Sink.Ignore", func(ctx context.Context, st *server.BidiStream[[]byte, []byte]) error {
				<-ctx.Done()
				ended <- ctx.Err()
				return ctx.Err()
			}))
			c, err := client.Dial(t.Context(), listen(t, s), client.WithConfig(writeTimeoutConfig()))
			require.NoError(t, err)
			defer c.Close()
			st, err := client.OpenBidi[[]byte, []byte](t.Context(), c, "Sink.Ignore")
			require.NoError(t, err)
			defer st.Close()

			checkWriteTimedOut(t, st, size, ended, c)
		})
		t.Run(fmt.Sprintf("server/%d", size), func(t *testing.T) {
			s, peers := peerServer(t, server.WithConfig(writeTimeoutConfig()))
			c, err := client.Dial(t.Context(), listen(t, s), client.WithConfig(writeTimeoutConfig()))
			require.NoError(t, err)
			defer c.Close()
			ended := make(chan error, 1)
			require.NoError(t, client.HandleBidi(c, "Sink.Ignore", func(ctx context.Context, recv func() (*[]byte, error), send func(*[]byte) error) error {
				<-ctx.Done()
				ended <- ctx.Err()
				return ctx.Err()
			}))
			p := <-peers
			st, err := client.OpenBidi[[]byte, []byte](t.Context(), p, "Sink.Ignore")
			require.NoError(t, err)
			defer st.Close()

			checkWriteTimedOut(t, st, size, ended, c)
		})
	}
}
