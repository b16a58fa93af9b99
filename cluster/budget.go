package cluster

import (
	"sync"
	"time"
)

// budget is a token bucket for retries: each call deposits ratio, time
// deposits floor per second, and each retry that adds load withdraws one.
type budget struct {
	mu     sync.Mutex
	tokens float64
	cap    float64
	ratio  float64
	floor  float64
	last   time.Time
}

func newBudget(ratio, floor float64) *budget {
	c := max(100, 10*floor)
	return &budget{tokens: c, cap: c, ratio: ratio, floor: floor, last: time.Now()}
}

func (b *budget) deposit() {
	b.mu.Lock()
	b.tokens = min(b.cap, b.tokens+b.ratio)
	b.mu.Unlock()
}

func (b *budget) withdraw() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	b.tokens = min(b.cap, b.tokens+b.floor*now.Sub(b.last).Seconds())
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// refund gives back a token withdrawn for a retry that was not sent.
func (b *budget) refund() {
	b.mu.Lock()
	b.tokens = min(b.cap, b.tokens+1)
	b.mu.Unlock()
}
