package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCloseSendsNoRequestStillWaitingForRoom: a Go whose request waits for
// room in a full write queue when Close runs fails with ErrClosed, flagged
// not executed, and its request is never sent, although room appears while Close flushes what
// was queued before (the peer resumes reading as soon as the channel has
// failed). Before fail stopped requests, the woken request was queued and
// written in Close's final flush: the peer ran a call its caller had been
// told failed.
func TestCloseSendsNoRequestStillWaitingForRoom(t *testing.T) {
	for round := range 5 {
		a, b := net.Pipe()
		q := newQueuePeer(b, -1)
		go q.run()
		c := New(a, Options{FerryPeer: true})
		c.Start()
		// The flusher may take what fillQueue queued just after it
		// found no room: fill again until a Go waits for room (one
		// that returns at once was queued, and the peer may read it).
		var late string
		var got chan error
		for i := 0; i < 10 && late == ""; i++ {
			fillQueue(t, c)
			method := fmt.Sprintf("T.Late%d", i)
			returned, ended := make(chan struct{}), make(chan error, 1)
			go func() {
				h := c.Go(context.Background(), method, 1, nil)
				close(returned)
				<-h.Done()
				ended <- h.Err()
			}()
			select {
			case <-returned:
			case <-time.After(50 * time.Millisecond): // it waits for room
				late, got = method, ended
			}
		}
		require.NotEmpty(t, late, "round %d: no Go waited for room", round)
		closed := make(chan error, 1)
		go func() { closed <- c.Close() }()
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: Close did not fail the channel", round)
		}
		close(q.resume) // room appears during Close's final flush

		select {
		case err := <-got:
			assert.True(t, errors.Is(err, ferry.ErrClosed), "round %d: %v", round, err)
			assert.True(t, ferry.NotExecuted(err), "round %d: a request never queued is not executed: %v", round, err)
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: the call waiting for room did not end", round)
		}
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: Close did not return", round)
		}
		b.Close()
		<-q.done
		q.mu.Lock()
		_, read := q.pos[late]
		q.mu.Unlock()
		require.False(t, read, "round %d: the peer read a request whose call Close had failed", round)
	}
}
