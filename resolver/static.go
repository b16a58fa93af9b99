package resolver

import (
	"context"
	"sync"
)

// Static returns a Resolver whose set is addrs, forever.
func Static(addrs ...string) Resolver {
	eps := make([]Endpoint, len(addrs))
	for i, a := range addrs {
		eps[i] = Endpoint{Addr: a}
	}
	return static(Sort(eps))
}

type static []Endpoint

func (s static) Watch(context.Context) (Watcher, error) {
	return &staticWatcher{set: s, closed: make(chan struct{})}, nil
}

type staticWatcher struct {
	set    []Endpoint
	mu     sync.Mutex
	sent   bool
	once   sync.Once
	closed chan struct{}
}

func (w *staticWatcher) Next(ctx context.Context) ([]Endpoint, error) {
	select {
	case <-w.closed:
		return nil, ErrClosed
	default:
	}
	w.mu.Lock()
	sent := w.sent
	w.sent = true
	w.mu.Unlock()
	if !sent {
		return clone(w.set), nil
	}
	select {
	case <-w.closed:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (w *staticWatcher) ResolveNow() {}

func (w *staticWatcher) Close() error {
	w.once.Do(func() { close(w.closed) })
	return nil
}
