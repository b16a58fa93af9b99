package faultnet

import "time"

// bucket is a token bucket measured in bytes. Reservations may overdraw
// it; the debt is the wait.
type bucket struct {
	rate   float64 // bytes per second; 0 means unlimited
	burst  float64 // capacity in bytes
	tokens float64
	last   time.Time
}

// setRate sets the rate and starts over with a full bucket.
func (b *bucket) setRate(bytesPerSecond int, now time.Time) {
	r := float64(bytesPerSecond)
	*b = bucket{rate: r, burst: max(r/20, min(r, 1024)), last: now}
	b.tokens = b.burst
}

// reserve takes n bytes and returns how long the caller must wait for the
// bucket to cover them.
func (b *bucket) reserve(n int, now time.Time) time.Duration {
	if b.rate == 0 {
		return 0
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(b.burst, b.tokens+elapsed.Seconds()*b.rate)
		b.last = now
	}
	b.tokens -= float64(n)
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}
