package faultnet_test

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/faultnet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStallOut(t *testing.T) {
	f := faultnet.New()
	a, b := tcpPair(t)
	fa := f.Conn(a)
	f.Stall(faultnet.Out)
	done := make(chan error, 1)
	go func() {
		_, err := fa.Write([]byte("held"))
		done <- err
	}()
	_, err := readWithin(b, quiet)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "nothing gets through a stall")
	select {
	case err := <-done:
		t.Fatalf("a stalled write returned: %v", err)
	default:
	}
	f.Resume()
	require.NoError(t, <-done)
	assert.Equal(t, []byte("held"), readN(t, b, 4))

	// A write deadline ends a stalled write.
	f.Stall(faultnet.Out)
	t0 := time.Now()
	require.NoError(t, fa.SetWriteDeadline(t0.Add(quiet)))
	_, err = fa.Write([]byte("x"))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	between(t, quiet, quiet+slack, time.Since(t0), "the write deadline ends a stall")
}

func TestStallIn(t *testing.T) {
	f := faultnet.New()
	a, b := tcpPair(t)
	fa := f.Conn(a)

	// A read already waiting when the stall begins holds what arrives.
	got := make(chan []byte, 1)
	go func() {
		buf := make([]byte, 4)
		n, _ := io.ReadFull(fa, buf)
		got <- buf[:n]
	}()
	f.Stall(faultnet.In)
	write(t, b, []byte("data"))
	select {
	case p := <-got:
		t.Fatalf("a stalled read returned %q", p)
	case <-time.After(quiet):
	}
	f.Resume()
	assert.Equal(t, []byte("data"), <-got)

	// The read deadline ends a stalled read, and nothing is lost.
	f.Stall(faultnet.In)
	write(t, b, []byte("more"))
	t0 := time.Now()
	_, err := readWithin(fa, quiet)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	between(t, quiet, quiet+slack, time.Since(t0), "the read deadline ends a stall")

	// So does a deadline set from another goroutine while it waits, the
	// way a reader is stopped before Close.
	require.NoError(t, fa.SetReadDeadline(time.Time{}))
	errc := make(chan error, 1)
	go func() {
		_, err := fa.Read(make([]byte, 4))
		errc <- err
	}()
	require.NoError(t, fa.SetReadDeadline(time.Now()))
	require.ErrorIs(t, <-errc, os.ErrDeadlineExceeded)

	require.NoError(t, fa.SetReadDeadline(time.Time{}))
	f.Resume()
	assert.Equal(t, []byte("more"), readN(t, fa, 4))
}

func TestStallHoldsPeerClose(t *testing.T) {
	f := faultnet.New()
	a, b := tcpPair(t)
	fa := f.Conn(a)
	got := make(chan error, 1)
	go func() {
		_, err := fa.Read(make([]byte, 1))
		got <- err
	}()
	f.Stall(faultnet.In)
	require.NoError(t, b.Close())
	select {
	case err := <-got:
		t.Fatalf("the peer's close got through a stall: %v", err)
	case <-time.After(quiet):
	}
	f.Resume()
	require.ErrorIs(t, <-got, io.EOF)
}

func TestCloseReleasesStalledCalls(t *testing.T) {
	for _, how := range []string{"Close", "CloseAll", "ResetAll"} {
		t.Run(how, func(t *testing.T) {
			f := faultnet.New()
			a, _ := tcpPair(t)
			fa := f.Conn(a)
			f.Stall(faultnet.Both)
			errc := make(chan error, 2)
			go func() {
				_, err := fa.Read(make([]byte, 1))
				errc <- err
			}()
			go func() {
				_, err := fa.Write([]byte("x"))
				errc <- err
			}()
			switch how {
			case "Close":
				require.NoError(t, fa.Close())
			case "CloseAll":
				assert.Equal(t, 1, f.CloseAll())
			case "ResetAll":
				assert.Equal(t, 1, f.ResetAll())
			}
			require.ErrorIs(t, <-errc, net.ErrClosed)
			require.ErrorIs(t, <-errc, net.ErrClosed)
			assert.Equal(t, 0, f.Conns())
		})
	}
}

func TestDrop(t *testing.T) {
	f := faultnet.New()
	a, b := tcpPair(t)
	fa := f.Conn(a)

	f.Drop(faultnet.Out)
	write(t, fa, []byte("lost"))
	_, err := readWithin(b, quiet)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "dropped bytes never arrive")
	write(t, b, []byte("in"))
	assert.Equal(t, []byte("in"), readN(t, fa, 2), "Drop(Out) leaves In alone")
	f.Heal()
	write(t, fa, []byte("kept"))
	assert.Equal(t, []byte("kept"), readN(t, b, 4))

	f.Drop(faultnet.In)
	write(t, b, []byte("lost"))
	_, err = readWithin(fa, quiet)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "received bytes vanish")
	f.Heal()
	write(t, b, []byte("kept"))
	assert.Equal(t, []byte("kept"), readN(t, fa, 4), "the dropped bytes are gone for good")
}

func TestBlackholeHidesPeerClose(t *testing.T) {
	f := faultnet.New()
	a, b := tcpPair(t)
	fa := f.Conn(a)
	f.Blackhole()
	require.NoError(t, b.Close())
	_, err := readWithin(fa, quiet)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "a partition hides the peer's close")
	write(t, fa, []byte("into the void"))
	f.Heal()
	_, err = fa.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "healing reveals it")
}

func TestDeadlinesReset(t *testing.T) {
	f := faultnet.New()
	a, b := tcpPair(t)
	fa := f.Conn(a)
	f.Stall(faultnet.In)
	require.NoError(t, fa.SetDeadline(time.Now().Add(-time.Second)))
	_, err := fa.Read(make([]byte, 1))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	// A later deadline replaces a passed one, and a waiting read sees it.
	require.NoError(t, fa.SetDeadline(time.Now().Add(time.Hour)))
	errc := make(chan error, 1)
	go func() {
		_, err := fa.Read(make([]byte, 1))
		errc <- err
	}()
	require.NoError(t, fa.SetReadDeadline(time.Now().Add(quiet)))
	require.ErrorIs(t, <-errc, os.ErrDeadlineExceeded)
	require.NoError(t, fa.SetDeadline(time.Time{}))
	f.Heal()
	write(t, b, []byte("z"))
	assert.Equal(t, []byte("z"), readN(t, fa, 1))
}

func TestErrorsAreTimeouts(t *testing.T) {
	f := faultnet.New()
	a, _ := tcpPair(t)
	fa := f.Conn(a)
	f.Stall(faultnet.In)
	_, err := readWithin(fa, time.Millisecond)
	var ne net.Error
	require.True(t, errors.As(err, &ne))
	assert.True(t, ne.Timeout())
}
