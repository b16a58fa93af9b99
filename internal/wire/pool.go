package wire

import (
	"math/bits"
	"sync"
)

// Large buffers (message bodies past keepBuffer) are pooled by power-of-two
// size class and shared by every connection, so a stream of big messages
// does not allocate a fresh buffer for each, and idle connections hold
// none.
const (
	minPoolClass = 16 // 64 KiB
	maxPoolClass = 30 // 1 GiB
)

var bufPools [maxPoolClass + 1]sync.Pool

// GetBuffer returns a zero-length slice with capacity at least n; n past
// the largest class is allocated.
func GetBuffer(n int) []byte {
	c := max(bits.Len(uint(n-1)), minPoolClass)
	if c > maxPoolClass {
		return make([]byte, 0, n)
	}
	if p, ok := bufPools[c].Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return make([]byte, 0, 1<<c)
}

// PutBuffer returns b, which the caller no longer uses, to the pool of its
// capacity's class; small buffers are left to the garbage collector.
func PutBuffer(b []byte) {
	c := bits.Len(uint(cap(b))) - 1 // floor(log2(cap))
	if c < minPoolClass || c > maxPoolClass {
		return
	}
	b = b[: 0 : 1<<c]
	bufPools[c].Put(&b)
}
