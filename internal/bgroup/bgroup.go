// Package bgroup counts background goroutines that an owner waits for when
// it closes, and refuses new ones once that wait has begun.
//
// A sync.WaitGroup must not see an Add from zero while Wait runs: a
// stream released while its client closed did exactly that (the race
// detector flags it), and a goroutine added after Wait returned was not
// waited for, though Close promises to return after the client's
// goroutines exit.
package bgroup

import "sync"

// Group is a set of background goroutines. The zero Group is ready.
type Group struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// Go runs f in a new goroutine that Wait waits for, and reports true;
// once Wait has begun it runs nothing and reports false, and the caller
// does the work itself or drops it.
func (g *Group) Go(f func()) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f()
	}()
	return true
}

// Wait refuses new goroutines and waits for those that Go started.
func (g *Group) Wait() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.wg.Wait()
}
