package transport

import (
	"io"
	"net"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestShrinkReleasesIdleBuffers: once the data of open streams has been
// read, shrink (run after every keepalive ping) releases their receive
// buffers.
func TestShrinkReleasesIdleBuffers(t *testing.T) {
	defer goleak.VerifyNone(t)
	a, b := net.Pipe()
	cfg := DefaultConfig()
	cfg.KeepAliveInterval = 0 // shrink is called below
	cs, err := Client(a, cfg)
	require.NoError(t, err)
	ss, err := Server(b, cfg)
	require.NoError(t, err)
	defer func() {
		require.NoError(t, cs.Close())
		<-ss.Done()
		require.NoError(t, ss.Close())
	}()

	const streams, size = 64, 16 << 10
	msg := make([]byte, size)
	accepted := make(chan net.Conn, streams)
	go func() {
		for range streams {
			st, err := ss.Accept()
			if err != nil {
				return
			}
			accepted <- st
		}
	}()
	for range streams {
		st, err := cs.Open(t.Context())
		require.NoError(t, err)
		defer st.Close()
		_, err = st.Write(msg)
		require.NoError(t, err)
	}
	buf := make([]byte, size)
	for range streams {
		st := <-accepted
		defer st.Close()
		_, err := io.ReadFull(st, buf)
		require.NoError(t, err)
	}
	heap := func() int64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	before := heap()
	ss.shrink()
	freed := before - heap()
	t.Logf("shrink released %d KiB of receive buffers of %d idle streams", freed>>10, streams)
	assert.Greater(t, freed, int64(streams*size/2))
}
