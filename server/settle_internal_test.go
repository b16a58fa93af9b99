package server

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSettleDropsEmptyMap: once the last stream being set up settles, the
// connection keeps no settling map (a map keeps the slots it grew to); the
// next stream makes a new one.
func TestSettleDropsEmptyMap(t *testing.T) {
	c := &netConn{s: New()}
	st1, st2 := net.Pipe()
	defer st1.Close()
	defer st2.Close()
	for round := range 2 {
		c.mu.Lock()
		c.unsettled += 2 // openStream counts each in at Accept
		c.mu.Unlock()
		c.settle(st1, true)
		c.settle(st2, true)
		c.settle(st1, false)
		c.mu.Lock()
		require.Len(t, c.settling, 1, "round %d: one stream is still being set up", round)
		c.mu.Unlock()
		c.settle(st2, false)
		c.mu.Lock()
		assert.Nil(t, c.settling, "round %d: nothing is being set up", round)
		assert.Zero(t, c.unsettled, "round %d", round)
		c.mu.Unlock()
	}
}
