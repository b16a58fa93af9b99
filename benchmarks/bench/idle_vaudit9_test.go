package bench

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// idleSys is a system whose every connection parks one goroutine started
// by the dialing side, two started by the server's accept goroutine, and
// one started by a goroutine of neither end (as a timer's callback is).
type idleSys struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	accept  chan struct{} // a dial asks the server's goroutine for its two
	neither chan struct{} // and the outside goroutine for its one
}

func (s *idleSys) Name() string { return "idle-fake" }

func (s *idleSys) park() { defer s.wg.Done(); <-s.stop }

// spawn starts two goroutines per request on ch until stop.
func (s *idleSys) spawn(ch chan struct{}, n int) {
	defer s.wg.Done()
	for {
		select {
		case <-ch:
			for range n {
				s.wg.Add(1)
				go s.park()
			}
			ch <- struct{}{}
		case <-s.stop:
			return
		}
	}
}

func (s *idleSys) Listen() (Server, error) {
	s.wg.Add(1)
	go s.spawn(s.accept, 2)
	return s, nil
}

func (s *idleSys) Dial(context.Context) (Client, error) {
	s.wg.Add(1)
	go s.park()
	for _, ch := range []chan struct{}{s.accept, s.neither} {
		ch <- struct{}{}
		<-ch
	}
	return idleClient{}, nil
}

func (s *idleSys) Close() error { close(s.stop); s.wg.Wait(); return nil }

type idleClient struct{}

func (idleClient) Close() error                       { return nil }
func (idleClient) NewCaller(Workload) (Caller, error) { return idleClient{}, nil }
func (idleClient) Call(context.Context) error         { return nil }
func (idleClient) Check() error                       { return nil }

// TestIdleSplitsGoroutinesByEnd checks README.md's account of the idle
// scenario's goroutines: the growth of runtime.NumGoroutine per
// connection, split by the end that started them (the server is started
// and the clients dialed under a profiler label goroutines inherit); a
// goroutine started by neither end is in the total only.
func TestIdleSplitsGoroutinesByEnd(t *testing.T) {
	defer func(d time.Duration) { IdleSettle = d }(IdleSettle)
	IdleSettle = 0
	s := &idleSys{stop: make(chan struct{}), accept: make(chan struct{}), neither: make(chan struct{})}
	s.wg.Add(1)
	go s.spawn(s.neither, 1) // unlabelled: started here, before Idle
	res, err := Idle(t.Context(), s, 5)
	require.NoError(t, err)
	assert.InDelta(t, 4.0, res.GoroutinesPC, 0.01, "all four")
	assert.InDelta(t, 1.0, res.ClientGoroutinesPC, 0.01, "the dialing side's")
	assert.InDelta(t, 2.0, res.ServerGoroutinesPC, 0.01, "the server's")
}
