package client_test

import (
	"math"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/require"
)

// TestVreview12DialLongOpenTimeout: Dial with a ctx that has no deadline
// bounds its handshake by 1.25 × StreamOpenTimeout, which must not wrap
// around for a timeout near the largest Duration (a way to say "no
// bound"): the bound was already past, and Dial failed at once with
// "session handshake: the server closed the connection (...): context
// deadline exceeded".
func TestVreview12DialLongOpenTimeout(t *testing.T) {
	s := server.New()
	t.Cleanup(func() { s.Close() })
	addr := ferrytest.Serve(t, s)
	for _, d := range []time.Duration{math.MaxInt64, math.MaxInt64 / 5 * 4, 24 * time.Hour} {
		cfg := transport.DefaultConfig()
		cfg.StreamOpenTimeout = d
		c, err := client.Dial(t.Context(), addr, client.WithConfig(cfg))
		require.NoError(t, err, "StreamOpenTimeout %v", d)
		require.NoError(t, c.Close())
	}
}
