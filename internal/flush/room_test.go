package flush

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// permitSink blocks every write until it is given a permit.
type permitSink struct {
	began   chan int // the size of each write, as it begins
	permits chan struct{}
}

func (s *permitSink) Write(p []byte) (int, error) {
	s.began <- len(p)
	<-s.permits
	return len(p), nil
}

// TestRoomAsSoonAsABatchLeaves: a caller waiting for room gets it as soon
// as the flusher takes the pending batch for its write, not once that
// write ends (HighWater bounds the pending bytes; one batch more is being
// written). Before, a caller that began to wait while a batch was pending
// slept through the whole next write, however long the destination took.
func TestRoomAsSoonAsABatchLeaves(t *testing.T) {
	for round := range 5 {
		dst := &permitSink{began: make(chan int, 8), permits: make(chan struct{}, 8)}
		w := New(dst, Config{HighWater: 10, Yield: true})
		queue := func(s string) {
			b, err := w.Begin()
			require.NoError(t, err)
			w.End(append(b, s...))
		}
		queue("a")
		<-dst.began         // batch 1 is being written
		queue("0123456789") // batch 2 fills the queue
		got := make(chan error, 1)
		go func() {
			b, err := w.BeginContext(t.Context())
			if err == nil {
				w.End(append(b, 'z'))
			}
			got <- err
		}()
		dst.permits <- struct{}{} // batch 1 ends; the flusher takes batch 2
		require.Equal(t, 10, <-dst.began, "round %d: batch 2 is being written", round)
		select {
		case err := <-got:
			require.NoError(t, err, "round %d", round)
		case <-time.After(3 * time.Second):
			t.Fatalf("round %d: the caller still waits for room while nothing is pending", round)
		}
		dst.permits <- struct{}{} // batch 2
		dst.permits <- struct{}{} // the caller's batch
		w.Close()
	}
}
