package resolver

import (
	"context"
	"sync"
	"sync/atomic"
)

// Manual is a Resolver whose set is pushed by code: tests, and registries
// that are not built in. Every Watcher sees every Update and Fail made
// after its previous Next returned (updates in between coalesce into the
// latest); its first Next returns the current set, even when a Fail came
// after it.
type Manual struct {
	mu      sync.Mutex
	set     []Endpoint
	err     error
	hasSet  bool   // an Update was made
	version uint64 // 0: nothing published yet
	changed chan struct{}
	hints   atomic.Int64
}

// NewManual returns a Manual resolver. With endpoints, they are its first
// set; without, Watchers wait for the first Update.
func NewManual(eps ...Endpoint) *Manual {
	m := &Manual{changed: make(chan struct{})}
	if len(eps) > 0 {
		m.Update(eps...)
	}
	return m
}

// Update publishes a new complete set.
func (m *Manual) Update(eps ...Endpoint) {
	set := Sort(clone(eps))
	m.publish(set, nil)
}

// Fail makes every Watcher's next Next return err once; their sets stay.
func (m *Manual) Fail(err error) { m.publish(nil, err) }

// ResolveNowCalls reports how many times Watchers were asked to
// re-resolve.
func (m *Manual) ResolveNowCalls() int64 { return m.hints.Load() }

func (m *Manual) publish(set []Endpoint, err error) {
	m.mu.Lock()
	if err == nil {
		m.set, m.hasSet = set, true
	}
	m.err = err
	m.version++
	close(m.changed)
	m.changed = make(chan struct{})
	m.mu.Unlock()
}

// Watch returns a Watcher of m's sets.
func (m *Manual) Watch(context.Context) (Watcher, error) {
	return &manualWatcher{m: m, closed: make(chan struct{})}, nil
}

type manualWatcher struct {
	m      *Manual
	mu     sync.Mutex
	seen   uint64
	once   sync.Once
	closed chan struct{}
}

func (w *manualWatcher) Next(ctx context.Context) ([]Endpoint, error) {
	for {
		select {
		case <-w.closed:
			return nil, ErrClosed
		default:
		}
		w.m.mu.Lock()
		version, set, hasSet, err, changed := w.m.version, w.m.set, w.m.hasSet, w.m.err, w.m.changed
		w.m.mu.Unlock()
		w.mu.Lock()
		fresh := version != 0 && version != w.seen
		if fresh && w.seen == 0 && hasSet {
			err = nil // the first call returns the first set, not a Fail made before it
		}
		if fresh {
			w.seen = version
		}
		w.mu.Unlock()
		if fresh {
			if err != nil {
				return nil, err
			}
			return clone(set), nil
		}
		select {
		case <-changed:
		case <-w.closed:
			return nil, ErrClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (w *manualWatcher) ResolveNow() { w.m.hints.Add(1) }

func (w *manualWatcher) Close() error {
	w.once.Do(func() { close(w.closed) })
	return nil
}
