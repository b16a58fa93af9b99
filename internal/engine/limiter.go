package engine

import (
	"sync"
	"sync/atomic"
)

// Limiter bounds how many handlers run at once, with a bounded queue of
// calls waiting for a slot; one is shared by every stream of a connection.
// It also bounds the handler goroutines the connection's streams keep
// idle for their next calls (each stream keeps its own, see dispatch) to
// as many as may run: a peer that bursts calls on one stream after
// another cannot make each keep hundreds.
type Limiter struct {
	idle     atomic.Int64 // idle handler goroutines of the connection's streams
	mu       sync.Mutex
	running  int
	max      int
	reserved int        // queue places promised to calls being decoded
	queue    []*inbound // FIFO of admitted calls waiting for a slot
	maxQueue int
}

// NewLimiter returns a Limiter running max handlers at once and queueing
// up to maxQueue more.
func NewLimiter(max, maxQueue int) *Limiter {
	return &Limiter{max: max, maxQueue: maxQueue}
}

type admission int

const (
	refused admission = iota
	runNow
	queued
)

// reserve decides a call's fate before its arguments are decoded.
func (l *Limiter) reserve() admission {
	if l == nil {
		return runNow
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.running < l.max:
		l.running++
		return runNow
	case len(l.queue)+l.reserved < l.maxQueue:
		l.reserved++
		return queued
	}
	return refused
}

// unreserve gives back what reserve granted to a call that will not run.
func (l *Limiter) unreserve(a admission) {
	switch a {
	case runNow:
		if next := l.done(); next != nil {
			go next.loop()
		}
	case queued:
		l.mu.Lock()
		l.reserved--
		l.mu.Unlock()
	}
}

// enqueue places a call that reserved a queue place; it runs at once if a
// slot has come free since.
func (l *Limiter) enqueue(in *inbound) {
	l.mu.Lock()
	l.reserved--
	if l.running < l.max {
		l.running++
		l.mu.Unlock()
		go in.loop()
		return
	}
	// Read before in is in the queue: a handler's goroutine may take it
	// from there, run it and recycle it (a call that is not cancelable)
	// at once.
	cancelable := in.cancelable
	l.queue = append(l.queue, in)
	l.mu.Unlock()
	if cancelable {
		// A call whose context ends while it waits (its deadline, the
		// peer's cancel, the connection's end) leaves the queue at once,
		// answered without running, so that its place serves the next
		// call instead of being held until a slot comes free. Once a slot
		// took it, the hook finds it gone and does nothing.
		in.call.AfterFunc(func() {
			if l.remove(in) {
				in.run()
			}
		})
	}
}

// remove takes a queued call out of the queue; false if it is not there
// (it took a slot, or left already).
func (l *Limiter) remove(in *inbound) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, q := range l.queue {
		if q == in {
			copy(l.queue[i:], l.queue[i+1:])
			l.queue[len(l.queue)-1] = nil
			l.queue = l.queue[:len(l.queue)-1]
			if len(l.queue) == 0 {
				l.queue = nil
			}
			return true
		}
	}
	return false
}

// Queued reports how many calls wait for a slot.
func (l *Limiter) Queued() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue)
}

// done ends a handler's use of its slot and returns the next queued call,
// which inherits the slot, or nil.
func (l *Limiter) done() *inbound {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.queue) > 0 {
		next := l.queue[0]
		l.queue[0] = nil
		l.queue = l.queue[1:]
		if len(l.queue) == 0 {
			l.queue = nil
		}
		return next
	}
	l.running--
	return nil
}

// keepIdle reports whether a handler goroutine that finished its call may
// stay idle for the next one, and counts it if so; otherwise it exits.
func (l *Limiter) keepIdle() bool {
	if l == nil {
		return true
	}
	if l.idle.Add(1) > int64(l.max) {
		l.idle.Add(-1)
		return false
	}
	return true
}

// leftIdle uncounts n idle handler goroutines that took a call or exited.
func (l *Limiter) leftIdle(n int) {
	if l != nil && n > 0 {
		l.idle.Add(-int64(n))
	}
}

// Idle reports how many handler goroutines the connection's streams keep
// idle.
func (l *Limiter) Idle() int { return int(l.idle.Load()) }

// Acquire takes a slot if one is free, for work that cannot queue
// (streaming handlers).
func (l *Limiter) Acquire() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running < l.max {
		l.running++
		return true
	}
	return false
}

// Release returns a slot taken by Acquire.
func (l *Limiter) Release() { l.unreserve(runNow) }
