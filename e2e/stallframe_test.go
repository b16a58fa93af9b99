package e2e_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStalledFrameBodyHoldsTheSessionUntilKeepalive checks SECURITY.md's
// "a message that stalls" row for a session frame whose body stalls: it
// holds the session's whole input (below any stream, where
// PartialMessageTimeout does not reach) until the keepalive ends the
// session, within KeepAliveInterval + WriteTimeout of the stall, not
// longer.
func TestStalledFrameBodyHoldsTheSessionUntilKeepalive(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.KeepAliveInterval = 300 * time.Millisecond
	cfg.WriteTimeout = 300 * time.Millisecond
	s := newServer(t, server.WithConfig(cfg))
	addr := listen(t, s)
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	ended := make(chan time.Time, 1)
	go func() {
		_, _ = io.Copy(io.Discard, conn) // reads all, answers no ping
		ended <- time.Now()
	}()
	msg := append(yamuxFrame(1, 1, 1, 0), yamuxFrame(0, 0, 1, 1000)...)
	msg = append(msg, make([]byte, 10)...) // 10 of the frame's 1,000 bytes
	_, err = conn.Write(msg)
	require.NoError(t, err)
	t0 := time.Now()
	bound := cfg.KeepAliveInterval + cfg.WriteTimeout
	select {
	case at := <-ended:
		took := at.Sub(t0)
		t.Logf("the server closed the session %v after the frame stalled (keepalive %v + write timeout %v)", took, cfg.KeepAliveInterval, cfg.WriteTimeout)
		assert.Less(t, took, bound+2*time.Second)
	case <-time.After(bound + 5*time.Second):
		t.Fatalf("the session was still open %v after the frame stalled", bound+5*time.Second)
	}
}
