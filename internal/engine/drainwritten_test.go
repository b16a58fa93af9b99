package engine

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDrainWrittenWaitsForAnEarlierDrain: DrainWritten waits until the
// $ferry.goaway that an earlier Drain queued has been written, as it does
// for its own (a call stream added while the server drains is drained at
// once, and the session's go-away must not overtake its goaway).
func TestDrainWrittenWaitsForAnEarlierDrain(t *testing.T) {
	a, b := net.Pipe()
	e := New(a, Options{FerryPeer: true})
	e.Start()
	t.Cleanup(func() {
		b.Close()
		e.Close()
	})
	e.Drain()
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.DrainWritten(context.Background())
	}()
	returned := func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	assert.Never(t, returned, 100*time.Millisecond, 5*time.Millisecond, "returned before the go-away was written")
	want := append([]byte{0x93, 0x02, 0xad}, "$ferry.goaway"...)
	want = append(want, 0x90)
	got := make([]byte, len(want))
	require.NoError(t, b.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err := io.ReadFull(b, got)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	require.Eventually(t, returned, 10*time.Second, time.Millisecond, "DrainWritten returns once the go-away is written")
}
