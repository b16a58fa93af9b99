package cluster

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Backoff is the schedule of reconnect attempts to one endpoint: the n-th
// consecutive failure waits Base × Multiplier^(n-1), at most Max, spread by
// ±Jitter so that clients that lost a server together do not come back
// together.
type Backoff struct {
	Base       time.Duration // the first delay; 1 ms to 1 min
	Multiplier float64       // growth per failure; 1 to 10
	Jitter     float64       // the random spread, a fraction of the delay; 0 to 1
	Max        time.Duration // the cap before jitter; Base to 1 h
}

// DefaultBackoff returns 1 s, ×1.6, ±20 %, at most 30 s.
func DefaultBackoff() Backoff {
	return Backoff{Base: time.Second, Multiplier: 1.6, Jitter: 0.2, Max: 30 * time.Second}
}

// Validate reports a field outside its range.
func (b Backoff) Validate() error {
	switch {
	case b.Base < time.Millisecond || b.Base > time.Minute:
		return fmt.Errorf("ferry: backoff base %v is outside 1ms..1m", b.Base)
	case !(b.Multiplier >= 1 && b.Multiplier <= 10):
		return fmt.Errorf("ferry: backoff multiplier %v is outside 1..10", b.Multiplier)
	case !(b.Jitter >= 0 && b.Jitter <= 1):
		return fmt.Errorf("ferry: backoff jitter %v is outside 0..1", b.Jitter)
	case b.Max < b.Base || b.Max > time.Hour:
		return fmt.Errorf("ferry: backoff max %v is outside base..1h", b.Max)
	}
	return nil
}

// Delay returns the wait after the n-th consecutive failure (n ≥ 1),
// jitter included.
func (b Backoff) Delay(n int) time.Duration {
	d := float64(b.Base) * math.Pow(b.Multiplier, float64(max(n, 1)-1))
	d = min(d, float64(b.Max))
	d *= 1 + b.Jitter*(2*rand.Float64()-1)
	return time.Duration(d)
}
