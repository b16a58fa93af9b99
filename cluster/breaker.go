package cluster

import (
	"sync"
	"time"
)

type breakerState int

const (
	breakerClosed breakerState = iota
	breakerOpen
	breakerHalfOpen
)

// outcome is how a call ended, as the breaker counts it.
type outcome int

const (
	neutral outcome = iota // the caller gave up, or nothing is known
	success                // the server answered (an application error included)
	failure                // unavailable, deadline exceeded, overloaded
)

// breaker is one endpoint's circuit breaker. onChange runs, without the
// lock, whenever the endpoint's eligibility changes.
type breaker struct {
	threshold int // 0: never opens
	coolDown  time.Duration
	onChange  func()

	mu      sync.Mutex
	state   breakerState
	fails   int
	probing bool
	timer   *time.Timer
	stopped bool
}

// allows reports whether the endpoint may be offered to the balancer.
func (b *breaker) allows() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state != breakerOpen
}

// acquire admits one call: always when closed, one probe at a time when
// half-open.
func (b *breaker) acquire() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case breakerClosed:
		return true
	case breakerHalfOpen:
		if !b.probing {
			b.probing = true
			return true
		}
	}
	return false
}

// record counts a call admitted by acquire.
func (b *breaker) record(o outcome) {
	b.mu.Lock()
	changed := false
	half := b.state == breakerHalfOpen
	if half {
		b.probing = false
		changed = true // the probe slot is free again: waiting calls may take it
	}
	switch {
	case o == success:
		b.fails = 0
		if half {
			b.state, changed = breakerClosed, true
		}
	case o == failure && b.threshold > 0:
		b.fails++
		if half || (b.state == breakerClosed && b.fails >= b.threshold) {
			b.open()
			changed = true
		}
	}
	b.mu.Unlock()
	if changed {
		b.onChange()
	}
}

// open starts a cool-down; called with the lock held.
func (b *breaker) open() {
	b.state = breakerOpen
	if b.stopped {
		return
	}
	if b.timer != nil {
		b.timer.Stop()
	}
	b.timer = time.AfterFunc(b.coolDown, func() {
		b.mu.Lock()
		if b.state != breakerOpen || b.stopped {
			b.mu.Unlock()
			return
		}
		b.state, b.probing = breakerHalfOpen, false
		b.mu.Unlock()
		b.onChange()
	})
}

// reset closes the breaker, for a new connection.
func (b *breaker) reset() {
	b.mu.Lock()
	b.state, b.fails, b.probing = breakerClosed, 0, false
	if b.timer != nil {
		b.timer.Stop()
	}
	b.mu.Unlock()
}

// stop cancels the cool-down timer for good.
func (b *breaker) stop() {
	b.mu.Lock()
	b.stopped = true
	if b.timer != nil {
		b.timer.Stop()
	}
	b.mu.Unlock()
}

func (b *breaker) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return [...]string{"closed", "open", "half-open"}[b.state]
}
