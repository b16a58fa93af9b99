package cluster

import (
	"context"
	"errors"
	"maps"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/health"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/ferryrpc/ferry/resolver"
)

type connState int

const (
	stateConnecting   connState = iota // dialing, or connected and awaiting its first health check
	stateReady                         // connected (health and breaker are separate)
	stateBackoff                       // waiting to redial
	stateDraining                      // the server is going away: no new calls
	stateReconnecting                  // the first wait after losing a working connection
)

// endpoint is one server: its connection, kept up by its own goroutine
// (run), and the state the balancer and the breaker read.
type endpoint struct {
	c    *Client
	addr string
	br   breaker

	ctx    context.Context // ends when the endpoint leaves the set or the Client closes
	cancel context.CancelFunc
	kick   chan struct{} // redial now: a new instance serves at addr
	probe  chan struct{} // check the connection now: a call was refused
	idle   chan struct{} // an attempt ended while the endpoint drains

	outstanding atomic.Int64
	weight      atomic.Int64 // resolver.AttrWeight
	prio        atomic.Int64 // resolver.AttrPriority
	dials       atomic.Int64
	attempts    atomic.Int64
	failures    atomic.Int64

	mu        sync.Mutex
	attrsV    map[string]string
	conn      *client.Client
	suspect   *client.Client // refused a call as not executed: admits none until a check clears it
	state     connState
	unhealthy bool
	dialErr   error // the last dial's failure, nil once a dial succeeds
}

func newEndpoint(c *Client, re resolver.Endpoint) *endpoint {
	e := &endpoint{c: c, addr: re.Addr, kick: make(chan struct{}, 1), probe: make(chan struct{}, 1), idle: make(chan struct{}, 1)}
	e.setAttrs(re.Attrs)
	e.ctx, e.cancel = context.WithCancel(c.ctx)
	e.br = breaker{threshold: c.o.breakAfter, coolDown: c.o.coolDown, onChange: c.update}
	return e
}

// Addr implements balancer.Endpoint.
func (e *endpoint) Addr() string { return e.addr }

// Outstanding implements balancer.Endpoint.
func (e *endpoint) Outstanding() int { return int(e.outstanding.Load()) }

// Weight implements balancer.Weighted: the resolver's AttrWeight.
func (e *endpoint) Weight() int { return int(e.weight.Load()) }

// priority is the resolver's AttrPriority.
func (e *endpoint) priority() int { return int(e.prio.Load()) }

func (e *endpoint) attrs() map[string]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.attrsV
}

func (e *endpoint) setAttrs(a map[string]string) {
	e.mu.Lock()
	e.attrsV = maps.Clone(a)
	e.mu.Unlock()
	e.weight.Store(attrInt(a, resolver.AttrWeight, 1, 0, 65535))
	e.prio.Store(attrInt(a, resolver.AttrPriority, 0, math.MinInt32, math.MaxInt32))
}

// attrInt parses the integer attribute key, or returns def when it is
// absent, malformed or outside lo..hi.
func attrInt(a map[string]string, key string, def, lo, hi int64) int64 {
	v, err := strconv.ParseInt(a[key], 10, 64)
	if err != nil || v < lo || v > hi {
		return def
	}
	return v
}

// noteDial keeps a dial's failure for the error of a call that finds no
// endpoint (Client.noEndpoint), and logs it.
func (e *endpoint) noteDial(err error) {
	e.mu.Lock()
	e.dialErr = err
	e.mu.Unlock()
	if err != nil && e.ctx.Err() == nil {
		e.c.o.logger.Warn("ferry: dial failed", "addr", e.addr, "err", err)
	}
}

func (e *endpoint) lastDialErr() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dialErr
}

func (e *endpoint) kickNow() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// stop takes the endpoint out of the set: run drains its connection and
// exits.
func (e *endpoint) stop() { e.cancel() }

func (e *endpoint) usable() bool {
	e.mu.Lock()
	ok := e.state == stateReady && !e.unhealthy && e.ctx.Err() == nil
	e.mu.Unlock()
	return ok && e.br.allows()
}

// connecting reports an endpoint that may be ready soon, so that calls
// wait for it rather than fail: dialling, about to redial after losing a
// working connection, or draining (its server is going away, and it is
// dialled again at once).
func (e *endpoint) connecting() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return (e.state == stateConnecting || e.state == stateReconnecting || e.state == stateDraining) && e.ctx.Err() == nil
}

func (e *endpoint) setState(s connState, conn *client.Client) {
	e.mu.Lock()
	e.state, e.conn = s, conn
	e.mu.Unlock()
	e.c.update()
}

// admit counts a call in if the endpoint is ready (the snapshot a
// picker works from may lag) and its breaker lets the call through. It
// returns the connection to use, or nil.
func (e *endpoint) admit() *client.Client {
	e.mu.Lock()
	conn := e.conn
	if e.state != stateReady || e.unhealthy || e.suspect == conn || e.ctx.Err() != nil {
		conn = nil
	}
	e.mu.Unlock()
	if conn == nil {
		return nil
	}
	select {
	case <-conn.Done():
		return nil // lost; run is about to notice
	case <-conn.GoingAway():
		return nil // draining; run is about to notice
	default:
	}
	if !e.br.acquire() {
		return nil
	}
	e.outstanding.Add(1)
	e.attempts.Add(1)
	return conn
}

// done counts a call admitted by admit out, feeding the breaker and
// noticing a server that is going away; ctx is the call's.
func (e *endpoint) done(ctx context.Context, conn *client.Client, err error) {
	o := classify(ctx, err)
	if o == failure {
		e.failures.Add(1)
	}
	e.br.record(o)
	if err != nil && ferry.NotExecuted(err) && ferry.CodeOf(err) == ferry.CodeUnavailable && conn != nil {
		// Refused without running: the server may have sent a go-away, or
		// the connection broke. Admit nothing more on it until a health
		// check, refused too if so, tells (serve).
		e.mu.Lock()
		if e.conn == conn {
			e.suspect = conn
		}
		e.mu.Unlock()
		select {
		case e.probe <- struct{}{}:
		default:
		}
	}
	if e.outstanding.Add(-1) == 0 && e.ctx.Err() != nil {
		select {
		case e.idle <- struct{}{}:
		default:
		}
	}
}

func (e *endpoint) markDraining(conn *client.Client) {
	e.mu.Lock()
	changed := e.conn == conn && e.state == stateReady
	if changed {
		e.state = stateDraining
	}
	e.mu.Unlock()
	if changed {
		e.c.o.logger.Info("ferry: endpoint is going away", "addr", e.addr)
		e.c.update()
	}
}

// classify maps a call's result, ctx being the call's, to what the
// breaker counts. A call that never left this side for a reason of the
// caller's own (its ctx had ended, its request was over the message limit
// or nested past the depth limit, its own or the server's) says nothing
// of the endpoint.
func classify(ctx context.Context, err error) outcome {
	if err == nil {
		return success
	}
	if ferry.NotExecuted(err) && (ctx.Err() != nil || errors.Is(err, wire.ErrTooLarge) || errors.Is(err, wire.ErrTooDeep)) {
		return neutral
	}
	switch ferry.CodeOf(err) {
	case ferry.CodeUnavailable:
		if ferry.NotExecuted(err) {
			return neutral // a go-away or a closed connection, handled as draining
		}
		return failure
	case ferry.CodeDeadlineExceeded, ferry.CodeResourceExhausted:
		return failure
	case ferry.CodeCanceled:
		return neutral
	}
	return success
}

// run keeps a connection to the endpoint until it leaves the set. When
// the server announces that it is going away, the old connection drains
// on its own (drainAway) and run dials again at once: a server restarting
// at the same address, or a new process already sharing its port, comes
// back into rotation as soon as it accepts.
func (e *endpoint) run() {
	defer e.c.wg.Done()
	defer e.br.stop()
	failures := 0
	recovering := false // redialling at once after a go-away: the first failure still waits (reconnecting)
	for e.ctx.Err() == nil {
		e.setState(stateConnecting, nil)
		e.dials.Add(1)
		dctx, cancel := context.WithTimeout(e.ctx, e.c.o.dialTimeout)
		conn, err := client.Dial(dctx, e.addr, e.c.o.clientOpts...)
		cancel()
		e.noteDial(err)
		wasReady, away := false, false
		if err == nil {
			e.br.reset()
			wasReady, away = e.serve(conn)
		}
		// After a working connection, calls wait for the first redial
		// rather than fail (reconnecting), and the schedule starts afresh.
		next := stateBackoff
		switch {
		case wasReady:
			failures, next, recovering = 0, stateReconnecting, false
		case recovering:
			next, recovering = stateReconnecting, false
		}
		switch {
		case away:
			e.drainAway(conn)
			if wasReady && e.ctx.Err() == nil {
				recovering = true
				continue // redial now; calls wait meanwhile (connecting)
			}
			e.setState(next, nil)
		case err == nil:
			e.setState(next, nil)
			e.close(conn)
		default:
			e.setState(next, nil)
		}
		if e.ctx.Err() != nil {
			return
		}
		failures++
		e.c.watcher.ResolveNow()
		if !e.sleep(e.c.o.backoff.Delay(failures)) {
			failures = 0 // kicked: a new instance serves here
		}
	}
}

// drainAway lets the calls in flight on conn, whose server announced that
// it is going away, finish there: the server answers each, or refuses it
// as not executed, and then closes the connection. The drain timeout and
// Close bound the wait.
func (e *endpoint) drainAway(conn *client.Client) {
	e.c.wg.Add(1) // run holds the group open: this cannot race Close's Wait
	go func() {
		defer e.c.wg.Done()
		t := time.NewTimer(e.c.o.drainTimeout)
		defer t.Stop()
		select {
		case <-conn.Done():
		case <-t.C:
		case <-e.c.ctx.Done():
		}
		conn.Close()
	}()
}

// sleep waits d, and reports false when it was cut short by a kick.
func (e *endpoint) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-e.kick:
		return false
	case <-e.ctx.Done():
		return true
	}
}

// serve runs one connection until it ends, its server announces that it
// is going away, or the endpoint leaves the set, checking health; it
// reports whether the connection ever became ready, and whether it ended
// with a go-away (the connection is then draining, still open).
func (e *endpoint) serve(conn *client.Client) (wasReady, away bool) {
	o := &e.c.o
	checks := o.healthEvery > 0
	fails := 0
	check := func() {
		ctx, cancel := context.WithTimeout(e.ctx, o.healthTimeout)
		st, err := health.Check(ctx, conn, o.healthService)
		cancel()
		defer e.clearSuspect(conn)
		switch {
		case err == nil:
			fails = 0
			e.setHealth(st == health.Serving)
		case ferry.CodeOf(err) == ferry.CodeUnimplemented:
			fails = 0
			e.setHealth(true) // no health service: serving while it answers
		case ferry.NotExecuted(err) && ferry.CodeOf(err) == ferry.CodeUnavailable:
			e.markDraining(conn) // refused before sending: a go-away came
		case e.ctx.Err() == nil:
			if fails++; fails >= 2 {
				e.setHealth(false)
			}
		}
	}
	e.mu.Lock()
	e.conn, e.unhealthy, e.suspect = conn, false, nil
	e.mu.Unlock()
	if checks {
		check() // a new connection takes calls only once healthy
	}
	select {
	case <-conn.GoingAway():
		return false, true
	case <-conn.Done():
		// Lost before its first check was answered: say, a connection
		// the kernel had queued for a listener that then closed.
		return false, false
	default:
	}
	e.setState(stateReady, conn)
	wasReady = e.usable()
	var tick <-chan time.Time
	var timer *time.Timer
	if checks {
		timer = time.NewTimer(jitter(o.healthEvery))
		defer timer.Stop()
		tick = timer.C
	}
	for {
		select {
		case <-conn.GoingAway():
			e.markDraining(conn)
			return wasReady, true
		case <-conn.Done():
			return wasReady, false
		case <-e.ctx.Done():
			return wasReady, false
		case <-e.kick:
			check()
		case <-e.probe:
			check()
		case <-tick:
			check()
			timer.Reset(jitter(o.healthEvery))
		}
		wasReady = wasReady || e.usable()
	}
}

// clearSuspect lets conn admit calls again after a check.
func (e *endpoint) clearSuspect(conn *client.Client) {
	e.mu.Lock()
	was := e.suspect == conn
	if was {
		e.suspect = nil
	}
	e.mu.Unlock()
	if was {
		e.c.update() // wake calls waiting for an endpoint
	}
}

func (e *endpoint) setHealth(ok bool) {
	e.mu.Lock()
	changed := e.unhealthy == ok
	e.unhealthy = !ok
	e.mu.Unlock()
	if changed {
		e.c.update()
	}
}

// close closes a connection; when the endpoint left the set (but the
// Client is open) it first lets the calls in flight finish, up to the
// drain timeout.
func (e *endpoint) close(conn *client.Client) {
	if e.ctx.Err() != nil && e.c.ctx.Err() == nil && e.outstanding.Load() > 0 {
		t := time.NewTimer(e.c.o.drainTimeout)
		defer t.Stop()
	wait:
		for e.outstanding.Load() > 0 {
			select {
			case <-e.idle:
			case <-conn.Done():
				break wait
			case <-t.C:
				break wait
			case <-e.c.ctx.Done():
				break wait
			}
		}
	}
	conn.Close()
}

func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}

func (e *endpoint) info() EndpointInfo {
	e.mu.Lock()
	state, unhealthy, attrs := e.state, e.unhealthy, maps.Clone(e.attrsV)
	e.mu.Unlock()
	name := [...]string{"connecting", "ready", "backoff", "draining", "reconnecting"}[state]
	switch {
	case state == stateReady && unhealthy:
		name = "unhealthy"
	case state == stateReady:
		if b := e.br.String(); b != "closed" {
			name = b // open, half-open
		}
	}
	return EndpointInfo{
		Addr: e.addr, Attrs: attrs, State: name, Outstanding: e.Outstanding(),
		Dials: e.dials.Load(), Attempts: e.attempts.Load(), Failures: e.failures.Load(),
	}
}
