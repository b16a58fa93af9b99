package engine

import (
	"context"
	"io"
	"math"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Outgoing ids go up by one; once they wrap around, ids still in use are
// skipped.
func TestCallIDsWrap(t *testing.T) {
	a, b := net.Pipe()
	go func() { _, _ = io.Copy(io.Discard, b) }()
	c := New(a, Options{})
	t.Cleanup(func() {
		c.Close()
		b.Close()
	})
	ids := func(n int) []uint32 {
		var out []uint32
		for range n {
			p := &pending{done: make(chan struct{}, 1)}
			require.NoError(t, c.start(context.Background(), "M", nil, p))
			out = append(out, p.id)
		}
		return out
	}
	assert.Equal(t, []uint32{1, 2, 3}, ids(3))
	c.mu.Lock()
	c.nextID = math.MaxUint32 - 2
	delete(c.calls, 2) // 1 and 3 stay in use
	c.mu.Unlock()
	assert.Equal(t, []uint32{math.MaxUint32 - 1, math.MaxUint32, 0, 2, 4}, ids(5))
}
