package e2e_test

import (
	"context"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSlowConsumerOfAHugeStream: a server streams 1 GiB to a client that
// reads 1 MiB/s. The server's memory stays within its baseline + 16 MiB
// (flow control holds the handler back), and cancelling on the client
// stops the handler within 100 ms. FERRY_LONG_TESTS=1 reads for 20 s; the
// default run reads for 2 s.
func TestSlowConsumerOfAHugeStream(t *testing.T) {
	readFor := 2 * time.Second
	if os.Getenv("FERRY_LONG_TESTS") != "" {
		readFor = 20 * time.Second
	}
	const chunk = 64 << 10
	s := newServer(t)
	stopped := make(chan time.Time, 1)
	sent := make(chan int, 1)
	require.NoError(t, server.HandleServerStream(s, "Huge.Stream", func(ctx context.Context, total *int64, send func(*[]byte) error) error {
		buf := make([]byte, chunk)
		n := 0
		defer func() { stopped <- time.Now(); sent <- n }()
		for int64(n)*chunk < *total {
			if err := send(&buf); err != nil {
				return err
			}
			n++
		}
		return nil
	}))
	c := dialTCP(t, s)
	_, base := settle()
	ctx, cancel := context.WithCancel(t.Context())
	rd, err := client.OpenServerStream[int64, []byte](ctx, c, "Huge.Stream", ptr(int64(1<<30)))
	require.NoError(t, err)
	defer rd.Close()

	var peak uint64
	received := 0
	tick := time.NewTicker(time.Second / 16) // 16 × 64 KiB = 1 MiB/s
	defer tick.Stop()
	deadline := time.Now().Add(readFor)
	for time.Now().Before(deadline) {
		<-tick.C
		_, err := rd.Recv()
		require.NoError(t, err)
		received++
		if received%16 == 0 {
			// The live heap, as settle measured the base: HeapInuse also
			// counts garbage and the free room in spans that an earlier
			// test's large buffers left (+18.9 MiB once in a CI run, with
			// 3 MiB sent).
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
	}
	t0 := time.Now()
	cancel()
	stopAt := <-stopped
	handlerSent := <-sent
	grew := float64(int64(peak)-int64(base)) / (1 << 20)
	t.Logf("read %d MiB in %v at 1 MiB/s; the handler had sent %d MiB; heap peak %+.1f MiB over baseline; handler stopped %v after cancel",
		received*chunk>>20, readFor, handlerSent*chunk>>20, grew, stopAt.Sub(t0))
	assert.Less(t, grew, 16.0)
	// 100 ms on a quiet machine; one run beside other packages' tests on
	// 2 cores took 104 ms under the race detector.
	assert.Less(t, stopAt.Sub(t0), 100*time.Millisecond*raceFactor/2)
	assert.Less(t, handlerSent, received+64, "flow control held the handler back")
}
