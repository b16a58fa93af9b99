package engine_test

import (
	"io"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/internal/engine"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCloseDuringHalfCloseRefusesBeforeTheCount: when a Close ends the
// wait that follows the peer's half-close, a call still queued behind
// the limiter is answered as not executed before $ferry.drained [n], as
// PROTOCOL.md 4 orders them (the count came first, and the answer after
// it, if at all).
func TestCloseDuringHalfCloseRefusesBeforeTheCount(t *testing.T) {
	got, answered2, drained := closeDuringHalfClose(t)
	require.NotEqual(t, -1, answered2, "the queued call is answered: %v", got)
	if drained >= 0 {
		assert.Less(t, answered2, drained, "answered before the count: %v", got)
	}
}

// halfCloseSeen is what the peer read: a response (its msgid) or the
// count.
type halfCloseSeen struct {
	id      uint32
	drained bool
}

// closeDuringHalfClose runs the scenario once: call 1 holds the
// limiter's one slot, call 2 is queued, the peer half-closes and Close
// ends the wait. It returns what the peer read, in order, and the places
// of call 2's answer and of $ferry.drained in it (-1: not read).
func closeDuringHalfClose(t *testing.T) (got []halfCloseSeen, answered2, drained int) {
	s := newSvc()
	inR, inW := io.Pipe()   // peer → engine
	outR, outW := io.Pipe() // engine → peer
	lim := engine.NewLimiter(1, 1)
	c := engine.New(deadlinePipe{halfPipe{inR, outW, func() error {
		inR.Close()
		return outW.Close()
	}}}, engine.Options{Registry: s.registry(t), FerryPeer: true, Limiter: lim})
	c.Start()
	t.Cleanup(func() { c.Close() })

	order := make(chan halfCloseSeen, 16)
	go func() {
		defer close(order)
		rd := wire.NewReader(outR, wire.DefaultLimits)
		for {
			b, err := rd.Next()
			if err != nil {
				return
			}
			m, err := wire.Parse(b)
			if err != nil {
				return
			}
			switch {
			case m.Type == wire.TypeResponse:
				order <- halfCloseSeen{id: m.ID}
			case string(m.Method) == wire.MethodDrained:
				order <- halfCloseSeen{drained: true}
			}
		}
	}()

	_, err := inW.Write(request(1, "T.Block", params(1), noExt))
	require.NoError(t, err)
	recv(t, s.entered)
	_, err = inW.Write(request(2, "T.Block", params(2), noExt)) // queued: the limiter's one slot is taken
	require.NoError(t, err)
	// Read and queued, not only written: a request the reader has not
	// taken yet when Close stops it is counted out instead.
	require.Eventually(t, func() bool { return lim.Queued() == 1 }, 5*time.Second, time.Millisecond)
	require.NoError(t, inW.Close()) // the half-close: the reader waits for the handlers
	require.NoError(t, c.Close())

	for m := range order {
		got = append(got, m)
	}
	drained, answered2 = -1, -1
	for i, m := range got {
		switch {
		case m.drained:
			drained = i
		case m.id == 2:
			answered2 = i
		}
	}
	return got, answered2, drained
}
