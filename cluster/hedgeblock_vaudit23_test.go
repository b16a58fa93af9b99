package cluster_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/cluster"
	"github.com/ferryrpc/ferry/resolver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// v23Silent listens on 127.0.0.1:0 and accepts connections that it never
// answers (until the test ends): an endpoint whose dial stays under way.
func v23Silent(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// TestVaudit23HedgeDoesNotHoldTheAnswer: with WithHedging, a hedge that
// finds no endpoint ready waits for one inside the loop that also
// collects the attempts' answers. So when the first attempt's server
// announced its go-away (the call in flight goes on to finish there, as
// the package doc says) and the only other endpoint was still dialling,
// the answer that had arrived sat unread until the caller's deadline: a
// call the server answered in 600 ms took the whole 4 s deadline. Now the
// answer is returned when it arrives.
func TestVaudit23HedgeDoesNotHoldTheAnswer(t *testing.T) {
	a := startNode(t, "a")
	a.delay.Store(int64(600 * time.Millisecond))
	silent := v23Silent(t)
	c := newClient(t, resolver.Static(a.addr, silent),
		cluster.WithIdempotent("Svc.Who"), cluster.WithHedging(200*time.Millisecond),
		cluster.WithDialTimeout(time.Minute))
	waitReady(t, c, 1)

	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Second)
	defer cancel()
	type result struct {
		who string
		err error
		at  time.Duration
	}
	res := make(chan result, 1)
	start := time.Now()
	go func() {
		var who string
		err := c.Call(ctx, "Svc.Who", struct{}{}, &who)
		res <- result{who, err, time.Since(start)}
	}()
	require.Eventually(t, func() bool { return a.served.Load() == 1 }, 2*time.Second, 5*time.Millisecond)
	shut := make(chan error, 1)
	go func() { shut <- a.shutdown(t.Context()) }() // go-away; the call in flight finishes

	r := <-res
	require.NoError(t, r.err)
	assert.Equal(t, "a", r.who)
	assert.Less(t, r.at, 2*time.Second, "the answer came at about 600 ms")
	require.NoError(t, <-shut)
}
