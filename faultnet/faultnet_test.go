package faultnet_test

import (
	"bytes"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/faultnet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// slack bounds how late an event may come on a loaded 2-core machine.
const slack = 2 * time.Second

// quiet is how long a test watches for something that must not happen.
const quiet = 150 * time.Millisecond

// tcpPair returns both ends of a loopback TCP connection, closed at
// cleanup.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	a, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	b := <-accepted
	require.NotNil(t, b)
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// readWithin reads once from c with a deadline d from now.
func readWithin(c net.Conn, d time.Duration) (int, error) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	return c.Read(make([]byte, 64<<10))
}

func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	buf := make([]byte, n)
	_, err := io.ReadFull(c, buf)
	require.NoError(t, err)
	return buf
}

func write(t *testing.T, c net.Conn, p []byte) {
	t.Helper()
	n, err := c.Write(p)
	require.NoError(t, err)
	require.Equal(t, len(p), n)
}

func between(t *testing.T, lo, hi, got time.Duration, what string) {
	t.Helper()
	assert.GreaterOrEqual(t, got, lo, what)
	assert.LessOrEqual(t, got, hi, what)
}

func TestPassThrough(t *testing.T) {
	f := faultnet.New()
	a, b := tcpPair(t)
	fa := f.Conn(a)
	assert.Equal(t, 1, f.Conns())
	write(t, fa, []byte("ping"))
	assert.Equal(t, []byte("ping"), readN(t, b, 4))
	write(t, b, []byte("pong"))
	assert.Equal(t, []byte("pong"), readN(t, fa, 4))
	assert.Equal(t, a.LocalAddr(), fa.LocalAddr())

	require.NoError(t, fa.Close())
	assert.Equal(t, 0, f.Conns())
	_, err := fa.Write([]byte("x"))
	require.ErrorIs(t, err, net.ErrClosed)
	_, err = fa.Read(make([]byte, 1))
	require.ErrorIs(t, err, net.ErrClosed)
	require.ErrorIs(t, fa.Close(), net.ErrClosed)
}

func TestLatency(t *testing.T) {
	const d = 80 * time.Millisecond
	f := faultnet.New()
	a, b := tcpPair(t)
	fa := f.Conn(a)

	f.SetLatency(faultnet.Out, d)
	t0 := time.Now()
	write(t, fa, []byte("out"))
	readN(t, b, 3)
	between(t, d, d+slack, time.Since(t0), "a write is delayed")

	f.SetLatency(faultnet.Out, 0)
	f.SetLatency(faultnet.In, d)
	t0 = time.Now()
	write(t, b, []byte("in"))
	readN(t, fa, 2)
	between(t, d, d+slack, time.Since(t0), "a read is delayed")

	f.SetLatency(faultnet.Both, d)
	t0 = time.Now()
	write(t, fa, []byte("rt"))
	write(t, b, readN(t, b, 2))
	readN(t, fa, 2)
	between(t, 2*d, 2*d+slack, time.Since(t0), "a round trip is delayed both ways")

	// The deadline cuts a delay short.
	f.SetLatency(faultnet.Out, time.Hour)
	t0 = time.Now()
	require.NoError(t, fa.SetWriteDeadline(t0.Add(d)))
	_, err := fa.Write([]byte("late"))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	between(t, d, d+slack, time.Since(t0), "the write deadline ends a delayed write")

	f.Heal()
	require.NoError(t, fa.SetWriteDeadline(time.Time{}))
	t0 = time.Now()
	write(t, fa, []byte("ok"))
	assert.Equal(t, []byte("ok"), readN(t, b, 2))
	assert.Less(t, time.Since(t0), d, "Heal removes the latency")
}

func TestBandwidth(t *testing.T) {
	const rate, size = 64 << 10, 32 << 10
	// The first 1/20 s of traffic passes at once.
	const least = time.Duration(size-rate/20) * time.Second / rate
	payload := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	for _, dir := range []faultnet.Dir{faultnet.Out, faultnet.In} {
		f := faultnet.New()
		a, b := tcpPair(t)
		fa := f.Conn(a)
		f.SetBandwidth(dir, rate)
		from, to := fa, b
		if dir == faultnet.In {
			from, to = b, fa
		}
		t0 := time.Now()
		errc := make(chan error, 1)
		go func() {
			_, err := from.Write(payload)
			errc <- err
		}()
		assert.Equal(t, payload, readN(t, to, size))
		require.NoError(t, <-errc)
		between(t, least, least+slack, time.Since(t0), "32 KiB at 64 KiB/s")
	}
}

func TestResetAndCloseAsSeenByThePeer(t *testing.T) {
	f := faultnet.New()
	a, b := tcpPair(t)
	f.Conn(a)
	assert.Equal(t, 1, f.CloseAll())
	_, err := b.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)

	a, b = tcpPair(t)
	f.Conn(a)
	assert.Equal(t, 1, f.ResetAll())
	_, err = b.Read(make([]byte, 1))
	require.ErrorIs(t, err, syscall.ECONNRESET)
	assert.Equal(t, 0, f.CloseAll())
}

func TestListenerAndDialer(t *testing.T) {
	f := faultnet.New()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	l := f.Listener(inner)
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	c, err := f.Dialer(nil)(t.Context(), "tcp", l.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	s := <-accepted
	require.NotNil(t, s)
	defer s.Close()
	assert.Equal(t, 2, f.Conns())

	f.SetLatency(faultnet.Out, 50*time.Millisecond)
	t0 := time.Now()
	write(t, c, []byte("a"))
	write(t, s, readN(t, s, 1))
	readN(t, c, 1)
	between(t, 100*time.Millisecond, 100*time.Millisecond+slack, time.Since(t0), "both wrapped ends delay their writes")

	_, err = f.Dialer(nil)(t.Context(), "tcp", "127.0.0.1:1")
	require.Error(t, err)
	assert.Equal(t, 2, f.Conns())
}

// TestConcurrentFaultChanges echoes data through a wrapped connection
// while another goroutine keeps changing lossless faults; every byte must
// arrive in order.
func TestConcurrentFaultChanges(t *testing.T) {
	f := faultnet.New()
	a, b := tcpPair(t)
	fa := f.Conn(a)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // echo server on the plain end
		defer wg.Done()
		_, _ = io.Copy(b, b)
	}()
	stop := make(chan struct{})
	toggled := make(chan int, 1)
	go func() {
		n := 0
		defer func() { toggled <- n }()
		for ; n < 10_000; n++ {
			select {
			case <-stop:
				return
			default:
			}
			switch n % 4 {
			case 0:
				f.Stall(faultnet.Dir(1 + n%3))
			case 1:
				f.Resume()
			case 2:
				f.SetLatency(faultnet.Both, time.Duration(n%3)*time.Millisecond)
			case 3:
				f.SetBandwidth(faultnet.Dir(1+n%3), (n%2)*(1<<20))
			}
		}
	}()
	msg := bytes.Repeat([]byte("x"), 1000)
	for i := range 200 {
		msg[0] = byte(i)
		write(t, fa, msg)
		require.Equal(t, msg, readN(t, fa, len(msg)))
		if i == 100 {
			close(stop)
			t.Logf("fault changes during the first 100 round trips: %d", <-toggled)
			f.Heal()
		}
	}
	require.NoError(t, fa.Close())
	wg.Wait()
}
