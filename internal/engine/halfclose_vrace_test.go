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

// TestVraceCloseDuringHalfCloseQueuedBeforeTheCount repeats
// TestCloseDuringHalfCloseRefusesBeforeTheCount: a call queued behind the
// limiter when a Close ends the wait after the peer's half-close is
// answered, not executed, before $ferry.drained [n] (PROTOCOL.md 4: calls
// numbered n or below whose handler had not started are answered before
// the count). The hook that takes a queued call out of the queue once its
// context ends (Limiter.enqueue) also fired for the connection's end and
// answered the call after the reader, finding it taken, sent the count.
func TestVraceCloseDuringHalfCloseQueuedBeforeTheCount(t *testing.T) {
	for round := range 200 {
		s := newSvc()
		inR, inW := io.Pipe()   // peer → engine
		outR, outW := io.Pipe() // engine → peer
		lim := engine.NewLimiter(1, 1)
		c := engine.New(deadlinePipe{halfPipe{inR, outW, func() error {
			inR.Close()
			return outW.Close()
		}}}, engine.Options{Registry: s.registry(t), FerryPeer: true, Limiter: lim})
		c.Start()

		type seen struct {
			id      uint32
			drained bool
		}
		order := make(chan seen, 16)
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
					order <- seen{id: m.ID}
				case string(m.Method) == wire.MethodDrained:
					order <- seen{drained: true}
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

		var got []seen
		for m := range order {
			got = append(got, m)
		}
		drained, answered2 := -1, -1
		for i, m := range got {
			switch {
			case m.drained:
				drained = i
			case m.id == 2:
				answered2 = i
			}
		}
		require.NotEqual(t, -1, answered2, "round %d: the queued call is answered: %v", round, got)
		if drained >= 0 && !assert.Less(t, answered2, drained, "round %d: answered before the count: %v", round, got) {
			return
		}
	}
}
