package flush

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestIdleBoundary: messages queued in every way (appended, written
// directly, linked) by several callers at once, around the moment the
// flusher gives up waiting and exits, are all written without Close
// having to flush them: a message queued as the flusher decides to exit
// starts the next one, and the last flusher exits.
func TestIdleBoundary(t *testing.T) {
	const idle, writers, rounds = 200 * time.Microsecond, 4, 600
	dst := &sink{writes: make(chan int, 64)}
	w := New(dst, Config{HighWater: 256, Direct: 12, Idle: idle, Yield: true})
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	want := 0
	for r := range rounds {
		// Between none and three idle periods since the last write.
		<-time.After(time.Duration(rng.Int64N(int64(3 * idle))))
		var wg sync.WaitGroup
		for g := range writers {
			m := msg(g, r)
			want += len(m)
			wg.Go(func() {
				switch (g + r) % 3 {
				case 0: // Write: a message of 12 bytes or more goes out directly
					_, err := w.Write(m)
					require.NoError(t, err)
				case 1:
					b, err := w.Begin()
					require.NoError(t, err)
					w.End(append(b, m...))
				default:
					b, err := w.Begin()
					require.NoError(t, err)
					b, ticket := w.Link(append(b, m[:4]...), m[4:])
					w.End(b)
					w.Wait(context.Background(), ticket)
				}
			})
		}
		queued := make(chan struct{})
		go func() { wg.Wait(); close(queued) }()
		timeout := time.After(5 * time.Second)
		select {
		case <-queued:
		case <-timeout:
			t.Fatalf("round %d: callers wait for a flusher that exited", r)
		}
		for len(dst.bytes()) < want { // the sink records a write, then signals it
			select {
			case <-dst.writes:
			case <-timeout:
				t.Fatalf("round %d: %d of %d bytes written: a message waits for a flusher that exited", r, len(dst.bytes()), want)
			}
		}
		for len(dst.writes) > 0 { // signals of writes already seen
			<-dst.writes
		}
	}
	running := func() bool { w.mu.Lock(); defer w.mu.Unlock(); return w.running }
	require.Eventually(t, func() bool { return !running() }, 5*time.Second, time.Millisecond, "the flusher exits once idle")
	require.NoError(t, w.Close())
	checkOrder(t, dst.bytes(), writers, rounds)
}
