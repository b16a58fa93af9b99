package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ferryrpc/ferry/balancer"
	"github.com/ferryrpc/ferry/client"
)

// Option configures a Client.
type Option func(*options) error

type options struct {
	balancer      balancer.Balancer
	clientOpts    []client.Option
	dialTimeout   time.Duration
	backoff       Backoff
	healthService string
	healthEvery   time.Duration
	healthTimeout time.Duration
	breakAfter    int
	coolDown      time.Duration
	maxAttempts   int
	budgetRatio   float64
	budgetFloor   float64
	idempotent    map[string]bool
	hedgeDelay    time.Duration
	waitForReady  bool
	drainTimeout  time.Duration
	logger        *slog.Logger
}

func defaultOptions() options {
	return options{
		balancer:      balancer.P2C(),
		dialTimeout:   5 * time.Second,
		backoff:       DefaultBackoff(),
		healthEvery:   2 * time.Second,
		healthTimeout: time.Second,
		breakAfter:    5,
		coolDown:      5 * time.Second,
		maxAttempts:   3,
		budgetRatio:   0.1,
		budgetFloor:   10,
		idempotent:    map[string]bool{},
		drainTimeout:  30 * time.Second,
		logger:        slog.New(slog.DiscardHandler),
	}
}

// WithBalancer sets the load-balancing policy. Default balancer.P2C().
// A call for which the policy's Picker returns nil (or an Endpoint it was
// not built with) fails at once, not executed, with code unavailable.
func WithBalancer(b balancer.Balancer) Option {
	return func(o *options) error {
		if b == nil {
			return errors.New("ferry: nil balancer")
		}
		o.balancer = b
		return nil
	}
}

// WithClientOptions sets the options of every connection the Client
// makes (transport tuning, interceptors, a logger). Default none. New
// returns the error client.Dial would return for an option it refuses
// (client.ValidateOptions), at once rather than at each dial.
func WithClientOptions(opts ...client.Option) Option {
	return func(o *options) error {
		if err := client.ValidateOptions(opts...); err != nil {
			return err
		}
		o.clientOpts = append(o.clientOpts, opts...)
		return nil
	}
}

// WithDialTimeout bounds one connection attempt, handshake included.
// Default 5 s; range 10 ms to 5 min.
func WithDialTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d < 10*time.Millisecond || d > 5*time.Minute {
			return fmt.Errorf("ferry: dial timeout %v is outside 10ms..5m", d)
		}
		o.dialTimeout = d
		return nil
	}
}

// WithBackoff sets the reconnect schedule. Default DefaultBackoff(): 1 s,
// ×1.6 per failure, ±20 %, at most 30 s. It must pass Backoff.Validate.
func WithBackoff(b Backoff) Option {
	return func(o *options) error {
		if err := b.Validate(); err != nil {
			return err
		}
		o.backoff = b
		return nil
	}
}

// WithHealthCheck sets the active health check: every interval (±10 %)
// the Client calls Health.Check (package health) for service on each
// connected endpoint, and keeps endpoints that are not SERVING, or fail
// two checks in a row, out of rotation until they pass again (a named
// service the server does not know reports UNKNOWN, which is not
// serving). A new connection takes calls only after its first check
// passes. A server without the health service counts as serving. An
// interval of 0 turns periodic checks off; a single check still runs when
// a connection refuses a call as not executed, to tell a server going
// away. Default: service "" (the whole server) every 2 s with a 1 s
// timeout; interval 0 or 10 ms to 1 h, timeout 1 ms to 1 min (with
// interval 0, a timeout of 0 keeps the default).
func WithHealthCheck(service string, interval, timeout time.Duration) Option {
	return func(o *options) error {
		if interval != 0 && (interval < 10*time.Millisecond || interval > time.Hour) {
			return fmt.Errorf("ferry: health check interval %v is outside 10ms..1h", interval)
		}
		if (interval != 0 || timeout != 0) && (timeout < time.Millisecond || timeout > time.Minute) {
			return fmt.Errorf("ferry: health check timeout %v is outside 1ms..1m", timeout)
		}
		o.healthService, o.healthEvery = service, interval
		if timeout != 0 {
			o.healthTimeout = timeout
		}
		return nil
	}
}

// WithCircuitBreaker sets the per-endpoint circuit breaker: after
// failures consecutive failed calls (unavailable, deadline exceeded,
// resource exhausted) the endpoint takes no calls for coolDown; then one
// probe call decides whether it closes again or stays open for another
// coolDown. A call that never left the caller for a reason of its own
// (its context had ended, its request was over the MaxMessageSize) is no
// failure of the endpoint's, and such a request is not retried elsewhere.
// failures 0 turns the breaker off. Default 5 failures and 5 s; failures 0
// to 1,000,000, coolDown 1 ms to 10 min.
func WithCircuitBreaker(failures int, coolDown time.Duration) Option {
	return func(o *options) error {
		if failures < 0 || failures > 1_000_000 {
			return fmt.Errorf("ferry: circuit breaker threshold %d is outside 0..1000000", failures)
		}
		if failures > 0 && (coolDown < time.Millisecond || coolDown > 10*time.Minute) {
			return fmt.Errorf("ferry: circuit breaker cool-down %v is outside 1ms..10m", coolDown)
		}
		o.breakAfter, o.coolDown = failures, coolDown
		return nil
	}
}

// WithMaxAttempts bounds the attempts of one call, the first included,
// across retries and hedges. 1 turns retries off. Default 3; range 1 to
// 10.
func WithMaxAttempts(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 10 {
			return fmt.Errorf("ferry: max attempts %d is outside 1..10", n)
		}
		o.maxAttempts = n
		return nil
	}
}

// WithRetryBudget bounds the retries and hedges that may add load: they
// spend tokens from a bucket that every call fills by ratio and that also
// refills by minPerSecond tokens a second (holding at most ten seconds'
// worth, and at least 100), so that retries stay under ratio of the calls
// plus a floor. Retrying a call that provably did not run, and was not
// refused for overload, spends nothing: it adds no work anywhere. Default
// 0.1 and 10; ratio 0 to 1, minPerSecond 0 to 1,000,000.
func WithRetryBudget(ratio, minPerSecond float64) Option {
	return func(o *options) error {
		if !(ratio >= 0 && ratio <= 1) {
			return fmt.Errorf("ferry: retry budget ratio %v is outside 0..1", ratio)
		}
		if !(minPerSecond >= 0 && minPerSecond <= 1_000_000) {
			return fmt.Errorf("ferry: retry budget floor %v is outside 0..1000000", minPerSecond)
		}
		o.budgetRatio, o.budgetFloor = ratio, minPerSecond
		return nil
	}
}

// WithIdempotent marks methods ("Service.Method") as safe to run more than
// once: a call to one that may have run (its connection broke) is retried
// on another endpoint, and may be hedged. Idempotent(ctx) marks a single
// call instead. Default none.
func WithIdempotent(methods ...string) Option {
	return func(o *options) error {
		for _, m := range methods {
			o.idempotent[m] = true
		}
		return nil
	}
}

// WithHedging sends a second attempt of an idempotent call to another
// endpoint (the same one when no other is ready; none, until the next
// delay, when no endpoint is ready then) when the first has not answered
// after delay, a third after another delay, and so on up to the max
// attempts; the first success wins and the others are canceled. Hedges
// spend the retry budget. Default off; range 1 ms to 1 min.
func WithHedging(delay time.Duration) Option {
	return func(o *options) error {
		if delay < time.Millisecond || delay > time.Minute {
			return fmt.Errorf("ferry: hedging delay %v is outside 1ms..1m", delay)
		}
		o.hedgeDelay = delay
		return nil
	}
}

// WithWaitForReady makes calls wait, until their context ends, for an
// endpoint to become ready even when none is connecting. Default off:
// calls wait while some endpoint is connecting, draining (its server
// announced a go-away; it is dialled again at once) or about to reconnect
// after losing a working connection (or before the first set arrives),
// and fail at once with ferry.CodeUnavailable, not executed, when none
// is: every endpoint is down (its last dial failed), failing its health
// checks, or has its circuit breaker open.
func WithWaitForReady() Option {
	return func(o *options) error {
		o.waitForReady = true
		return nil
	}
}

// WithDrainTimeout bounds how long the connection to an endpoint that left
// the set, or whose server announced that it is going away, stays open
// for the calls still running on it; a call still unanswered then fails
// with ferry.CodeUnavailable, its outcome unknown, and is retried on
// another endpoint only when it is idempotent. Default 30 s; range 0 to
// 10 min.
func WithDrainTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 || d > 10*time.Minute {
			return fmt.Errorf("ferry: drain timeout %v is outside 0..10m", d)
		}
		o.drainTimeout = d
		return nil
	}
}

// WithLogger sends the Client's log lines (endpoints coming and going,
// failed dials, resolver errors) to l. Default: silent.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("ferry: nil logger")
		}
		o.logger = l
		return nil
	}
}
