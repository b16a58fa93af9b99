package transport_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestSessionOnOpen: OnOpen counts every stream the peer opens, those
// opened before it was set included, and each one it counted can then be
// accepted.
func TestSessionOnOpen(t *testing.T) {
	defer goleak.VerifyNone(t)
	cs, ss := sessionPair(t)
	var opens sync.WaitGroup
	open := func() {
		opens.Add(1)
		go func() {
			defer opens.Done()
			st, err := ss.Open(t.Context()) // waits for the client's Accept
			if assert.NoError(t, err) {
				_ = st.Close()
			}
		}()
	}
	open()
	open()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(5 * time.Second); cs.NumStreams() < 2 && time.Now().Before(end); {
		<-tick.C // both SYNs reached the client's session
	}
	require.Equal(t, 2, cs.NumStreams())

	counted := make(chan struct{}, 3)
	cs.OnOpen(func() { counted <- struct{}{} })
	require.Len(t, counted, 2, "the streams opened before OnOpen are counted at once")
	open()
	<-counted
	for range 3 {
		st, err := cs.Accept()
		require.NoError(t, err)
		require.NoError(t, st.Close())
	}
	opens.Wait()
	require.NoError(t, cs.Close())
	<-ss.Done()
	require.NoError(t, ss.Close())
}
