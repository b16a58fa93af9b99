package cluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/balancer"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/status"
	"github.com/ferryrpc/ferry/resolver"
)

// Client calls a service served by many endpoints. It is safe for
// concurrent use.
type Client struct {
	o       options
	budget  *budget
	watcher resolver.Watcher
	ctx     context.Context // ends at Close
	cancel  context.CancelFunc

	mu       sync.Mutex
	eps      map[string]*endpoint // the current set, by address
	gotSet   bool                 // the resolver delivered a first set
	closing  bool
	wg       sync.WaitGroup // the resolver loop, endpoint loops, async calls
	resolved atomic.Int64   // sets received
	resErrs  atomic.Int64   // resolver errors
	streams  streamCounts   // stream.go

	state atomic.Pointer[pickState]
}

// pickState is an immutable snapshot of what calls can use.
type pickState struct {
	picker  balancer.Picker // nil when nothing is ready
	ready   int             // endpoints ready, of any priority
	waiting bool            // something may become ready soon: calls wait
	changed chan struct{}   // closed when a newer snapshot replaces this one
}

// New starts a Client over the endpoints r finds. It returns at once;
// connections are made in the background, and calls made before one is
// ready wait for it (bounded by their context) while it is being made;
// WithWaitForReady says when they fail instead.
func New(r resolver.Resolver, opts ...Option) (*Client, error) {
	if r == nil {
		return nil, errors.New("ferry: nil resolver")
	}
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	c := &Client{o: o, budget: newBudget(o.budgetRatio, o.budgetFloor), eps: map[string]*endpoint{}}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	w, err := r.Watch(c.ctx)
	if err != nil {
		c.cancel()
		return nil, err
	}
	c.watcher = w
	c.state.Store(&pickState{waiting: true, changed: make(chan struct{})})
	c.wg.Add(1)
	go c.watch()
	return c, nil
}

// Close stops the Client: calls and streams in flight fail with an error
// wrapping ferry.ErrClosed, connections close, and Close returns once
// every goroutine the Client started has exited.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		c.wg.Wait()
		return nil
	}
	c.closing = true
	eps := slices.Collect(maps.Values(c.eps))
	c.mu.Unlock()
	c.cancel()
	c.watcher.Close()
	for _, e := range eps {
		e.stop()
	}
	c.wg.Wait()
	c.update()
	return nil
}

// spawn runs f in a goroutine that Close waits for, unless the Client is
// closing.
func (c *Client) spawn(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

// watch applies the resolver's sets until Close.
func (c *Client) watch() {
	defer c.wg.Done()
	pause := 50 * time.Millisecond
	for {
		set, err := c.watcher.Next(c.ctx)
		if c.ctx.Err() != nil {
			return
		}
		if err != nil {
			// Keep the last good set; guard against a watcher that fails
			// in a tight loop.
			c.resErrs.Add(1)
			c.o.logger.Warn("ferry: resolver failed; keeping the last set", "err", err)
			t := time.NewTimer(pause)
			select {
			case <-t.C:
			case <-c.ctx.Done():
				t.Stop()
				return
			}
			pause = min(2*pause, 2*time.Second)
			continue
		}
		pause = 50 * time.Millisecond
		c.resolved.Add(1)
		c.apply(set)
	}
}

// apply makes the endpoint set equal to set: new endpoints start
// connecting, gone ones drain, and a changed one (a new instance at the
// same address) reconnects at once.
func (c *Client) apply(set []resolver.Endpoint) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	seen := make(map[string]bool, len(set))
	for _, re := range set {
		seen[re.Addr] = true
		if e, ok := c.eps[re.Addr]; ok {
			if !maps.Equal(e.attrs(), re.Attrs) {
				e.setAttrs(re.Attrs)
				e.kickNow()
			}
			continue
		}
		e := newEndpoint(c, re)
		c.eps[re.Addr] = e
		c.wg.Add(1)
		go e.run()
		c.o.logger.Info("ferry: endpoint added", "addr", re.Addr)
	}
	var gone []*endpoint
	for addr, e := range c.eps {
		if !seen[addr] {
			delete(c.eps, addr)
			gone = append(gone, e)
			c.o.logger.Info("ferry: endpoint removed", "addr", addr)
		}
	}
	c.gotSet = true
	c.mu.Unlock()
	for _, e := range gone {
		e.stop()
	}
	c.update()
}

// update rebuilds the pick snapshot after any change of readiness.
func (c *Client) update() {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ready []balancer.Endpoint
	waiting := !c.gotSet || c.o.waitForReady
	addrs := slices.Sorted(maps.Keys(c.eps))
	for _, a := range addrs {
		e := c.eps[a]
		switch {
		case e.usable():
			ready = append(ready, e)
		case e.connecting():
			waiting = true
		}
	}
	if c.closing {
		ready, waiting = nil, false
	}
	st := &pickState{ready: len(ready), waiting: waiting, changed: make(chan struct{})}
	if len(ready) > 0 {
		st.picker = c.o.balancer.Build(lowestPriority(ready))
	}
	old := c.state.Swap(st)
	close(old.changed)
}

// lowestPriority keeps the endpoints of the lowest priority among ready
// (resolver.AttrPriority): the others take calls only when none of those
// is ready.
func lowestPriority(ready []balancer.Endpoint) []balancer.Endpoint {
	if len(ready) == 0 {
		return ready
	}
	low := ready[0].(*endpoint).priority()
	for _, e := range ready[1:] {
		low = min(low, e.(*endpoint).priority())
	}
	return slices.DeleteFunc(ready, func(e balancer.Endpoint) bool { return e.(*endpoint).priority() != low })
}

// errNoEndpoint is returned when no endpoint is ready and none is coming.
var errNoEndpoint = ferry.MarkNotExecuted(ferry.NewError(ferry.CodeUnavailable, "no endpoint is available"))

// noEndpoint is errNoEndpoint with the failure of the last dial of the
// first endpoint (by address) whose last dial failed, so that a refused
// token, a TLS mismatch or a client option Dial refuses does not read as
// servers that are down.
func (c *Client) noEndpoint() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, addr := range slices.Sorted(maps.Keys(c.eps)) {
		if err := c.eps[addr].lastDialErr(); err != nil {
			return ferry.MarkNotExecuted(ferry.WrapError(ferry.CodeUnavailable, err,
				fmt.Sprintf("%s (the last dial of %s failed: %v)", errNoEndpoint.Message, addr, err)))
		}
	}
	return errNoEndpoint
}

// errNoPick is returned when a custom policy's Picker returns nil, or an
// Endpoint it was not built with, while endpoints are ready.
var errNoPick = ferry.MarkNotExecuted(ferry.NewError(ferry.CodeUnavailable, "the balancer picked no endpoint"))

var errClientClosed = ferry.MarkNotExecuted(ferry.WrapError(ferry.CodeCanceled, ferry.ErrClosed, "the cluster client was closed"))

// pick chooses an endpoint for a call, avoiding those in tried when it
// can, and waits while none is ready but one may become so (unless wait
// is false: a hedge must not keep its call from collecting the answers of
// the attempts already running). The returned endpoint has admitted the
// call on the returned connection; the caller must end it with e.done.
func (c *Client) pick(ctx context.Context, method string, tried []*endpoint, wait bool) (*endpoint, *client.Client, error) {
	var busy []*endpoint // not admitting now: a half-open probe is out, or the snapshot lags
	for {
		st := c.state.Load()
		if st.picker != nil {
			refused := false // the policy picked nil, or none of its endpoints
			// First avoid the endpoints already tried; then take any that
			// admits the call.
			for pass := range 2 {
				info := &balancer.Info{Ctx: ctx, Method: method, Skip: func(be balancer.Endpoint) bool {
					e, ok := be.(*endpoint)
					return !ok || slices.Contains(busy, e) || (pass == 0 && slices.Contains(tried, e))
				}}
				for range st.ready + 1 {
					e, ok := st.picker.Pick(info).(*endpoint)
					if !ok {
						refused = true
						break
					}
					if info.Skip(e) {
						break // nothing else to offer
					}
					if conn := e.admit(); conn != nil {
						return e, conn, nil
					}
					busy = append(busy, e)
				}
			}
			if refused && len(busy) == 0 {
				return nil, nil, errNoPick
			}
		}
		if c.ctx.Err() != nil {
			return nil, nil, errClientClosed
		}
		if !wait || (st.picker == nil && !st.waiting) {
			return nil, nil, c.noEndpoint()
		}
		select {
		case <-st.changed:
			busy = busy[:0]
		case <-ctx.Done():
			return nil, nil, ferry.MarkNotExecuted(ferry.WrapError(ferry.CodeOf(ctx.Err()), ctx.Err(),
				"no endpoint became ready before the call ended: "+ctx.Err().Error()))
		case <-c.ctx.Done():
			return nil, nil, errClientClosed
		}
	}
}

// EndpointInfo describes one endpoint of the current set.
type EndpointInfo struct {
	Addr        string            // "host:port"
	Attrs       map[string]string // as the resolver reported them
	State       string            // connecting, ready, unhealthy, draining, open or half-open (circuit breaker), reconnecting, backoff
	Outstanding int               // calls in flight
	Dials       int64             // connection attempts so far
	Attempts    int64             // call attempts sent to it so far
	Failures    int64             // attempts that failed for want of the endpoint (unavailable, deadline, overload)
}

// Endpoints describes the current endpoint set, sorted by address.
func (c *Client) Endpoints() []EndpointInfo {
	c.mu.Lock()
	eps := slices.Collect(maps.Values(c.eps))
	c.mu.Unlock()
	out := make([]EndpointInfo, 0, len(eps))
	for _, e := range eps {
		out = append(out, e.info())
	}
	slices.SortFunc(out, func(a, b EndpointInfo) int { return strings.Compare(a.Addr, b.Addr) })
	return out
}

// WaitReady blocks until at least n endpoints are ready, ctx ends (its
// error is returned) or the Client closes (ferry.ErrClosed, wrapped). A
// nil ctx is refused at once: CodeInvalidArgument.
func (c *Client) WaitReady(ctx context.Context, n int) error {
	if err := status.CheckContext(ctx, "WaitReady"); err != nil {
		return err
	}
	for {
		st := c.state.Load()
		if st.ready >= n {
			return nil
		}
		select {
		case <-st.changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.ctx.Done():
			return errClientClosed
		}
	}
}
