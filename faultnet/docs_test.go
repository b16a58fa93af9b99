package faultnet_test

// Tests of what the package doc and the exported doc comments promise that
// the other tests do not cover.

import (
	"bytes"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/faultnet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDocsConnWrapping checks Conn's "Closing the returned connection
// closes c", NetConn returning the wrapped connection, and Heal's
// "Connections closed by CloseAll or ResetAll stay closed".
func TestDocsConnWrapping(t *testing.T) {
	f := faultnet.New()
	a, _ := tcpPair(t)
	fa := f.Conn(a)
	nc, ok := fa.(interface{ NetConn() net.Conn })
	require.True(t, ok, "the wrapper has NetConn")
	assert.Same(t, a, nc.NetConn())
	require.NoError(t, fa.Close())
	_, err := a.Write([]byte("x"))
	require.ErrorIs(t, err, net.ErrClosed, "closing the wrapper closed c")

	for _, closeAll := range []func() int{f.CloseAll, f.ResetAll} {
		a, _ := tcpPair(t)
		fa := f.Conn(a)
		assert.Equal(t, 1, closeAll())
		f.Heal()
		_, err := fa.Write([]byte("x"))
		require.ErrorIs(t, err, net.ErrClosed, "it stays closed after Heal")
		assert.Equal(t, 0, f.Conns())
	}
}

// TestDocsNoGoroutines checks "faultnet starts no goroutines of its own":
// with every fault changed and a read waiting in a stall, no goroutine
// was created by faultnet's code.
func TestDocsNoGoroutines(t *testing.T) {
	f := faultnet.New()
	a, b := tcpPair(t)
	fa := f.Conn(a)
	f.SetLatency(faultnet.Both, time.Millisecond)
	f.SetBandwidth(faultnet.Both, 1<<20)
	f.Drop(faultnet.Out)
	f.Heal()
	f.Stall(faultnet.In)
	got := make(chan []byte, 1)
	go func() {
		buf := make([]byte, 4)
		n, _ := fa.Read(buf)
		got <- buf[:n]
	}()
	write(t, b, []byte("held"))
	_, err := readWithin(b, quiet) // time for the reader to reach the stall
	require.Error(t, err)
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	assert.Contains(t, stacks, "faultnet.(*conn).Read", "the reader waits in faultnet")
	assert.NotRegexp(t, `created by github\.com/ferryrpc/ferry/faultnet\.`, stacks)
	f.Resume()
	assert.Equal(t, []byte("held"), <-got)
}

// TestDocsBandwidthIsShared checks SetBandwidth's "The limit is shared by
// all of f's connections, as if they went through one link": two
// connections sending 32 KiB each at once through a 64 KiB/s limit take
// as long as one sending 64 KiB (less the burst), not as long as one
// sending 32 KiB.
func TestDocsBandwidthIsShared(t *testing.T) {
	const rate, size = 64 << 10, 32 << 10
	const least = time.Duration(2*size-rate/20) * time.Second / rate
	f := faultnet.New()
	f.SetBandwidth(faultnet.Out, rate)
	payload := bytes.Repeat([]byte("x"), size)
	t0 := time.Now()
	errc := make(chan error, 2)
	var peers []net.Conn
	for range 2 {
		a, b := tcpPair(t)
		peers = append(peers, b)
		fa := f.Conn(a)
		go func() {
			_, err := fa.Write(payload)
			errc <- err
		}()
	}
	for _, b := range peers {
		readN(t, b, size)
	}
	require.NoError(t, <-errc)
	require.NoError(t, <-errc)
	assert.GreaterOrEqual(t, time.Since(t0), least, "64 KiB in all at 64 KiB/s, less the 1/20 s burst")
}

// TestDocsStallHoldsPeerReset checks Stall's "received bytes are held back
// from reads (as is an end of stream or a reset from the peer)": the
// bytes before a reset come first, then the reset, after Resume.
func TestDocsStallHoldsPeerReset(t *testing.T) {
	f := faultnet.New()
	a, b := tcpPair(t)
	fa := f.Conn(a)
	f.Stall(faultnet.In)
	write(t, b, []byte("last"))
	require.NoError(t, b.(*net.TCPConn).SetLinger(0))
	require.NoError(t, b.Close())
	_, err := readWithin(fa, quiet)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "the stall holds the bytes and the reset")
	require.NoError(t, fa.SetReadDeadline(time.Time{}))
	f.Resume()
	buf := make([]byte, 64)
	var got []byte
	for range 10 {
		n, err := fa.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			if len(got) > 0 { // a reset may discard what the kernel had not delivered
				assert.Equal(t, []byte("last"), got)
			}
			require.ErrorIs(t, err, syscall.ECONNRESET)
			return
		}
	}
	t.Fatal("no reset after Resume")
}
