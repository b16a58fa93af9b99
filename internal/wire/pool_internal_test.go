package wire

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPoolBounded: the large-buffer pools take back at most poolCap bytes
// (less those taken out again) between two collections; a collection
// makes room again.
func TestPoolBounded(t *testing.T) {
	const size = 1 << 20
	resetPool := func() {
		runtime.GC()
		require.Eventually(t, func() bool { return pooled.Load() == 0 }, 5*time.Second, time.Millisecond,
			"a collection resets the count")
	}
	bufs := make([][]byte, 2*poolCap/size)
	for i := range bufs {
		bufs[i] = make([]byte, size)
	}
	resetPool()
	// No collection from here on: it would reset the count mid-test.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	for _, b := range bufs {
		PutBuffer(b)
	}
	assert.Equal(t, int64(poolCap), pooled.Load(), "puts past the bound are left to the collector")

	// Steady reuse is not limited: a buffer taken makes room for one put.
	b := GetBuffer(size)
	assert.Equal(t, int64(poolCap-size), pooled.Load())
	PutBuffer(b)
	assert.Equal(t, int64(poolCap), pooled.Load())

	debug.SetGCPercent(100)
	resetPool()
	debug.SetGCPercent(-1)
	PutBuffer(make([]byte, size))
	assert.Equal(t, int64(size), pooled.Load())
	PutBuffer(make([]byte, 4096)) // small buffers are not pooled
	assert.Equal(t, int64(size), pooled.Load())
}
