package faultnet_test

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/faultnet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestStallUsesNoCPU checks that reads and writes waiting in a stall
// sleep rather than spin.
func TestStallUsesNoCPU(t *testing.T) {
	const wait = 400 * time.Millisecond
	f := faultnet.New()
	a, b := tcpPair(t)
	fa := f.Conn(a)
	f.Stall(faultnet.Both)
	write(t, b, []byte("waiting"))
	cpu0, t0 := cpuTime(t), time.Now()
	done := make(chan error, 1)
	go func() {
		_ = fa.SetWriteDeadline(time.Now().Add(wait))
		_, err := fa.Write([]byte("x"))
		done <- err
	}()
	_, err := readWithin(fa, wait)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.ErrorIs(t, <-done, os.ErrDeadlineExceeded)
	used := cpuTime(t) - cpu0
	t.Logf("CPU used by a stalled read and write over %v: %v", time.Since(t0), used)
	assert.Less(t, used, wait/4)
}
