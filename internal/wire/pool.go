package wire

import (
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
)

// Large buffers (message bodies past keepBuffer) are pooled by power-of-two
// size class and shared by every connection, so a stream of big messages
// does not allocate a fresh buffer for each, and idle connections hold
// none.
//
// What the pools hold is charged to no connection's memory budget, so it
// is bounded: between two garbage collections the bytes put back, less
// those taken out again, stay under poolCap; the rest is left to the
// collector. (A sync.Pool keeps what it holds for one more collection.)
// Steady reuse, a buffer taken for every one put back, is not limited.
// Without the bound, connections that a full server budget keeps closing
// (each returning the large buffer it was charged for, and the next one
// charging a new one) could fill the pools far past the budget.
const (
	minPoolClass = 16 // 64 KiB
	maxPoolClass = 30 // 1 GiB
	poolCap      = 16 << 20
)

var (
	bufPools [maxPoolClass + 1]sync.Pool
	// pooled counts the bytes put back since the last collection, less
	// those taken out (never below zero).
	pooled atomic.Int64
)

// gcSentinel is garbage as soon as it is made: its cleanup runs after the
// next collection, resets pooled and arms the next one.
type gcSentinel struct{ _ [64]byte }

func armPoolReset() {
	runtime.AddCleanup(new(gcSentinel), func(struct{}) {
		pooled.Store(0)
		armPoolReset()
	}, struct{}{})
}

func init() { armPoolReset() }

// GetBuffer returns a zero-length slice with capacity at least n; n past
// the largest class is allocated.
func GetBuffer(n int) []byte {
	c := max(bits.Len(uint(n-1)), minPoolClass)
	if c > maxPoolClass {
		return make([]byte, 0, n)
	}
	if p, ok := bufPools[c].Get().(*[]byte); ok {
		for {
			v := pooled.Load()
			if pooled.CompareAndSwap(v, max(v-1<<c, 0)) {
				break
			}
		}
		return (*p)[:0]
	}
	return make([]byte, 0, 1<<c)
}

// PutBuffer returns b, which the caller no longer uses, to the pool of its
// capacity's class; small buffers, and any past the pools' bound, are left
// to the garbage collector.
func PutBuffer(b []byte) {
	c := bits.Len(uint(cap(b))) - 1 // floor(log2(cap))
	if c < minPoolClass || c > maxPoolClass {
		return
	}
	if pooled.Add(1<<c) > poolCap {
		pooled.Add(-(1 << c))
		return
	}
	b = b[: 0 : 1<<c]
	bufPools[c].Put(&b)
}
