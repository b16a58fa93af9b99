package e2e_test

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/faultnet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit20CloseOnAStalledNetwork checks Client.Close: "Calls in
// flight fail at once with an error wrapping ferry.ErrClosed (a call
// still waiting for room in a full write queue, behind writes the server
// does not take, within Close's one second for the last writes)", on a
// connection whose writes a fault holds: eight calls queued behind them
// fail at once, a Go waiting for room in the full queue within the second,
// and Close returns after it.
func TestVaudit20CloseOnAStalledNetwork(t *testing.T) {
	for _, fault := range []string{"stall", "blackhole"} {
		t.Run(fault, func(t *testing.T) {
			s := newServer(t)
			addr := listen(t, s)
			f := faultnet.New()
			defer f.Heal()
			nc, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			c, err := client.New(f.Conn(nc))
			require.NoError(t, err)
			if fault == "stall" {
				f.Stall(faultnet.Out)
			} else {
				f.Blackhole()
			}
			// 8 × 100 KiB fit in the write queue (1 MiB): Go returns.
			mid := codec.Raw(append([]byte{0xc6, 0, 1, 0x90, 0}, bytes.Repeat([]byte{1}, 100<<10)...))
			var calls []*ferry.Call
			for range 8 {
				calls = append(calls, c.Go(t.Context(), "Echo.Echo", mid, nil))
			}
			// A 1 MiB call then waits for room.
			waiting := make(chan *ferry.Call, 1)
			go func() {
				huge := codec.Raw(append([]byte{0xc6, 0, 0x10, 0, 0}, bytes.Repeat([]byte{1}, 1<<20)...))
				waiting <- c.Go(t.Context(), "Echo.Echo", huge, nil)
			}()
			for _, call := range calls {
				select {
				case <-call.Done():
					t.Fatalf("a call ended before Close: %v", call.Err())
				default:
				}
			}

			start := time.Now()
			ended := make(chan time.Duration, len(calls))
			for _, call := range calls {
				go func() { <-call.Done(); ended <- time.Since(start) }()
			}
			closed := make(chan struct{})
			go func() { defer close(closed); assert.NoError(t, c.Close()) }()
			for i, call := range calls {
				select {
				case took := <-ended:
					assert.Less(t, took, 500*time.Millisecond, "call %d failed %v after Close began", i, took)
				case <-time.After(5 * time.Second):
					t.Fatalf("a call in flight had not failed 5 s after Close began")
				}
				require.ErrorIs(t, call.Err(), ferry.ErrClosed)
			}
			select {
			case call := <-waiting:
				<-call.Done()
				assert.ErrorIs(t, call.Err(), ferry.ErrClosed)
				assert.Less(t, time.Since(start), 2500*time.Millisecond, "the Go that waited for room")
			case <-time.After(5 * time.Second):
				t.Fatal("the Go waiting for room had not returned 5 s after Close began")
			}
			select {
			case <-closed:
				t.Logf("Close returned after %v", time.Since(start))
				assert.Less(t, time.Since(start), 2500*time.Millisecond)
			case <-time.After(5 * time.Second):
				t.Fatal("Close had not returned after 5 s")
			}
		})
	}
}
