package e2e_test

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestIdleHandlersBoundedPerConnection checks SECURITY.md's "handlers
// per connection" row for the goroutines that finished their calls: a
// peer that bursts calls on one call stream after another must not make
// each stream keep as many idle handler goroutines as ran on it at once.
// Each stream kept its own, so 64 streams each sent 200 echo requests at
// once left the server some 10,000 goroutines (53 MiB of stacks) with
// 1,024 calls running at most; now the connection keeps at most
// WithMaxConcurrentCalls idle. From a raw session, with a small limit so
// that the bound is tight: 64 running + 64 idle + each stream's reader
// and writer, and some slack.
func TestIdleHandlersBoundedPerConnection(t *testing.T) {
	// Each size class fills each stream's 1 MiB window once.
	for _, size := range []int{1 << 10, 64 << 10, 1<<20 - 1<<10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) { idleHandlersBounded(t, size, max(1, min(200, (1<<20-1<<10)/(size+32)))) })
	}
}

// idleHandlersBounded runs TestIdleHandlersBoundedPerConnection's attack
// with each echo request carrying size bytes, each of the 64 streams
// sending each of them in one frame.
func idleHandlersBounded(t *testing.T, size, each int) {
	const streams, maxCalls = 64, 64
	s := newServer(t, server.WithMaxConcurrentCalls(maxCalls))
	addr := listen(t, s)
	g0, h0 := settle()
	conn := rawSession(t, addr)
	var got atomic.Int64
	go func() {
		b := make([]byte, 64<<10)
		for {
			n, err := conn.Read(b)
			got.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	b := helloSession()
	first := notification("$ferry.cancel", []any{uint32(1 << 30)})
	for i := range streams {
		b = append(b, yamuxFrame(1, 1, uint32(3+2*i), 0)...)
		b = append(b, dataFrame(uint32(3+2*i), 0, first)...)
	}
	_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := conn.Write(b)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return streamsOpen(s) >= streams }, 5*time.Second, time.Millisecond)

	// Sample the goroutines from the first burst until the replies have
	// stopped coming for 200 ms.
	var peak atomic.Int64
	sample := func() { raise(&peak, int64(runtime.NumGoroutine()-g0)) }
	msg := wholeEcho(1, size)
	for i := range streams {
		b = b[:0]
		for range each {
			b = append(b, msg...)
		}
		if _, err := conn.Write(dataFrame(uint32(3+2*i), 0, b)); err != nil {
			// The connection's memory budget ended the session (64
			// streams of 1 MiB pass it).
			require.Greater(t, size, 64<<10, "the session ended: %v", err)
			break
		}
		sample()
	}
	last, quiet := int64(-1), time.Now()
	require.Eventually(t, func() bool {
		sample()
		if n := got.Load(); n != last {
			last, quiet = n, time.Now()
		}
		return last > 0 && time.Since(quiet) > 200*time.Millisecond
	}, 20*time.Second, 2*time.Millisecond)
	bound := int64(2*maxCalls + 2*streams + 128)
	t.Logf("%d streams × %d calls of %d bytes: peak %d goroutines above the start (bound %d), %d bytes of replies",
		streams, each, size, peak.Load(), bound, got.Load())
	assert.LessOrEqual(t, peak.Load(), bound, "handler goroutines kept beyond the connection's limit")
	released(t, s, conn, h0)
}
