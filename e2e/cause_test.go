package e2e_test

import (
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOwnWriteTimeoutIsNamed: when the client's own writes time out (the
// server stopped reading its socket), its calls and Err say so; they do
// not blame the server for closing the connection. Calls that were sent
// have an unknown outcome, calls still queued were not sent; all are
// unavailable.
func TestOwnWriteTimeoutIsNamed(t *testing.T) {
	ccfg := transport.DefaultConfig()
	ccfg.WriteTimeout = 500 * time.Millisecond
	c, deaf := stalledServer(t, ccfg)
	close(deaf)
	args := make([]byte, 1<<20)
	const n = 24 // 24 MiB: more than the socket buffers take
	errs := make(chan error, n)
	for range n {
		go func() { errs <- c.Call(t.Context(), "Echo.Echo", args, nil) }()
	}
	for range n {
		err := within(t, errs, 5*time.Second, "a call after the write timed out")
		require.Error(t, err)
		assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%v", err)
		assert.Contains(t, err.Error(), "a write to the connection timed out", "%v", err)
		assert.NotContains(t, err.Error(), "peer closed", "%v", err)
	}
	within(t, c.Done(), 5*time.Second, "the connection's end")
	require.ErrorIs(t, c.Err(), transport.ErrWriteTimeout, "%v", c.Err())
	t.Logf("Err: %v", c.Err())
}
