package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// flakyConn writes the first failAt-1 writes whole, half of write
// failAt and then fails it and every later one, recording what reached
// it. Reads wait for Close, or, with deadlines, for a read deadline not
// in the future (then a timeout, as a session stream's).
type flakyConn struct {
	failAt    int
	deadlines bool
	closed    chan struct{}
	woken     chan struct{}
	once      sync.Once
	wakeOnce  sync.Once

	mu      sync.Mutex
	writes  int
	written strings.Builder
}

var errFlaky = errors.New("test: the stream broke")

func newFlakyConn(failAt int, deadlines bool) *flakyConn {
	return &flakyConn{failAt: failAt, deadlines: deadlines, closed: make(chan struct{}), woken: make(chan struct{})}
}

func (f *flakyConn) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	switch {
	case f.writes < f.failAt:
		f.written.Write(p)
		return len(p), nil
	case f.writes == f.failAt:
		f.written.Write(p[:len(p)/2])
		return len(p) / 2, errFlaky
	}
	return 0, errFlaky
}

func (f *flakyConn) Read([]byte) (int, error) {
	select {
	case <-f.closed:
		return 0, errFlaky
	case <-f.woken:
		return 0, os.ErrDeadlineExceeded
	}
}

func (f *flakyConn) Close() error {
	f.once.Do(func() { close(f.closed) })
	return nil
}

// deadlineConn is a flakyConn with SetReadDeadline, so that the engine
// handles a failed write through its reader (writeFailed).
type deadlineConn struct{ *flakyConn }

func (d deadlineConn) SetReadDeadline(t time.Time) error {
	if !t.IsZero() && !t.After(time.Now()) {
		d.wakeOnce.Do(func() { close(d.woken) })
	}
	return nil
}

// TestVreview10NotExecutedNeverWritten: many callers queue calls while
// the stream's writes succeed, then one write fails half-way and the
// stream breaks (failed at once, or through the reader when the stream has
// read deadlines). Every call flagged not executed must have had no byte
// of its request written; the others end unavailable.
func TestVreview10NotExecutedNeverWritten(t *testing.T) {
	const callers, each = 8, 16
	flagged := 0
	for round := range 24 {
		f := newFlakyConn(1+round%6, round%2 == 1)
		var rwc interface {
			Read([]byte) (int, error)
			Write([]byte) (int, error)
			Close() error
		} = f
		if f.deadlines {
			rwc = deadlineConn{f}
		}
		c := New(rwc, Options{FerryPeer: true})
		c.Start()
		type sent struct {
			method string
			call   interface {
				Done() <-chan struct{}
				Err() error
			}
		}
		var mu sync.Mutex
		var calls []sent
		goCall := func(method string) {
			call := c.Go(context.Background(), method, 1, nil)
			mu.Lock()
			calls = append(calls, sent{method, call})
			mu.Unlock()
		}
		var wg sync.WaitGroup
		for g := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					goCall(fmt.Sprintf("T.M%02d%02d", g, i))
				}
			}()
		}
		wg.Wait()
		writes := func() int {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.writes
		}
		// Nothing answers: the calls end when the stream breaks, so more
		// go out until the failing write has come.
		// (The flusher may still be writing the calls above: the count is
		// read once, so that a failing write in between ends the loop.)
		for i := 0; i < 16; i++ {
			before := writes()
			if before >= f.failAt {
				break
			}
			goCall(fmt.Sprintf("T.P%02d", i))
			require.Eventually(t, func() bool { return writes() > before }, 5*time.Second, time.Millisecond)
		}
		require.GreaterOrEqual(t, writes(), f.failAt, "round %d: the stream never broke", round)
		for _, s := range calls {
			select {
			case <-s.call.Done():
			case <-time.After(5 * time.Second):
				t.Fatalf("round %d: %s did not end after the stream broke", round, s.method)
			}
			err := s.call.Err()
			require.Error(t, err, "round %d %s: nothing answers", round, s.method)
			assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "round %d %s: %v", round, s.method, err)
			if ferry.NotExecuted(err) {
				flagged++
				f.mu.Lock()
				written := f.written.String()
				f.mu.Unlock()
				assert.NotContains(t, written, s.method, "round %d: %s was written but flagged not executed", round, s.method)
			}
		}
		c.Close()
	}
	t.Logf("%d calls flagged not executed", flagged)
	assert.Positive(t, flagged)
}
