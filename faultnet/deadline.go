package faultnet

import (
	"sync"
	"time"
)

// deadline is a read or write deadline as a channel that is closed once
// the deadline has passed, so that waits can select on it. Setting a new
// deadline keeps the channel unless it was already closed, so a waiter
// always sees the latest deadline.
type deadline struct {
	mu    sync.Mutex
	ch    chan struct{}
	timer *time.Timer
	gen   uint64 // invalidates the callbacks of replaced timers
}

func newDeadline() *deadline { return &deadline{ch: make(chan struct{})} }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	expired := closed(d.ch)
	if t.IsZero() {
		if expired {
			d.ch = make(chan struct{})
		}
		return
	}
	wait := time.Until(t)
	if wait <= 0 {
		if !expired {
			close(d.ch)
		}
		return
	}
	if expired {
		d.ch = make(chan struct{})
	}
	gen := d.gen
	d.timer = time.AfterFunc(wait, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.gen == gen && !closed(d.ch) {
			close(d.ch)
		}
	})
}

// done returns a channel closed once the deadline has passed.
func (d *deadline) done() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ch
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
