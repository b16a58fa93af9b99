package resolver

import (
	"context"
	"sync"
	"sync/atomic"
)

// Manual is a Resolver whose set is pushed by code: tests, and registries
// that are not built in. Every Watcher sees every Fail, and every Update
// whose set differs from the one its Next returned last (Equal: the same
// addresses with the same Attrs, in any order), made after its previous
// Next returned (updates in between coalesce into the latest); its first
// Next returns the current set, even when a Fail came after it.
type Manual struct {
	mu      sync.Mutex
	set     []Endpoint
	err     error
	hasSet  bool   // an Update was made
	version uint64 // 0: nothing published yet
	setVer  uint64 // the version of the last Update
	errVer  uint64 // the version of the last Fail
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
	m.version++
	if err == nil {
		m.set, m.hasSet, m.setVer = set, true, m.version
	} else {
		m.err, m.errVer = err, m.version
	}
	close(m.changed)
	m.changed = make(chan struct{})
	m.mu.Unlock()
}

// Watch returns a Watcher of m's sets.
func (m *Manual) Watch(context.Context) (Watcher, error) {
	return &manualWatcher{m: m, closed: make(chan struct{})}, nil
}

type manualWatcher struct {
	m       *Manual
	mu      sync.Mutex
	started bool       // Next returned something
	seenSet uint64     // the version of the last set Next returned
	seenErr uint64     // the version of the last Fail Next returned or passed over
	last    []Endpoint // the set Next returned last (the Manual's, never changed)
	gotSet  bool       // Next returned a set
	once    sync.Once
	closed  chan struct{}
}

// Next returns what was published since its previous call: the latest
// set, unless it is the one it returned last, and the latest Fail, each
// once, in the order they were made; the first call returns the current
// set even when a Fail came after it.
func (w *manualWatcher) Next(ctx context.Context) ([]Endpoint, error) {
	for {
		select {
		case <-w.closed:
			return nil, ErrClosed
		default:
		}
		w.m.mu.Lock()
		set, hasSet, setVer, err, errVer, changed := w.m.set, w.m.hasSet, w.m.setVer, w.m.err, w.m.errVer, w.m.changed
		w.m.mu.Unlock()
		if set, ok, err := w.pending(set, hasSet, setVer, err, errVer); ok {
			return set, err
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

// pending picks what Next returns from the Manual's state, and reports
// false when there is nothing new.
func (w *manualWatcher) pending(set []Endpoint, hasSet bool, setVer uint64, err error, errVer uint64) ([]Endpoint, bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.started && hasSet {
		w.started, w.seenSet, w.seenErr = true, setVer, max(w.seenErr, errVer)
		w.last, w.gotSet = set, true
		return clone(set), true, nil
	}
	newSet := hasSet && setVer > w.seenSet
	if newSet && w.gotSet && Equal(set, w.last) {
		w.seenSet, newSet = setVer, false // the Watcher contract: only a set that differs
	}
	newErr := errVer > w.seenErr
	switch {
	case newErr && (!newSet || errVer < setVer):
		w.started, w.seenErr = true, errVer
		return nil, true, err
	case newSet:
		w.started, w.seenSet = true, setVer
		w.last, w.gotSet = set, true
		return clone(set), true, nil
	}
	return nil, false, nil
}

func (w *manualWatcher) ResolveNow() { w.m.hints.Add(1) }

func (w *manualWatcher) Close() error {
	w.once.Do(func() { close(w.closed) })
	return nil
}
