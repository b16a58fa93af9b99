package faultnet_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/faultnet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit18LowBandwidthBurst checks SetBandwidth's bursts at a low
// rate: at 1,000 bytes/s a burst is a second's worth (1/20 s would be 50
// bytes), so 1,000 bytes pass at once, and 500 more wait for the bucket
// to refill (half a second).
func TestVaudit18LowBandwidthBurst(t *testing.T) {
	const rate = 1000
	f := faultnet.New()
	f.SetBandwidth(faultnet.Out, rate)
	a, b := tcpPair(t)
	fa := f.Conn(a)

	t0 := time.Now()
	errc := make(chan error, 1)
	go func() {
		_, err := fa.Write(bytes.Repeat([]byte("x"), rate))
		errc <- err
	}()
	readN(t, b, rate)
	require.NoError(t, <-errc)
	assert.Less(t, time.Since(t0), rate/2*time.Millisecond, "a second's worth passes at once")

	t1 := time.Now()
	go func() {
		_, err := fa.Write(bytes.Repeat([]byte("y"), rate/2))
		errc <- err
	}()
	readN(t, b, rate/2)
	require.NoError(t, <-errc)
	assert.GreaterOrEqual(t, time.Since(t1), 400*time.Millisecond, "then the rate holds")
}
