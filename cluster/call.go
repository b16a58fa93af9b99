package cluster

import (
	"context"
	"errors"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/async"
	"github.com/ferryrpc/ferry/internal/status"
	"github.com/ferryrpc/ferry/internal/wire"
)

var _ ferry.Caller = (*Client)(nil)

type idempotentKey struct{}

// Idempotent returns a context whose calls are safe to run more than once,
// whatever their method: they are retried after a broken connection, and
// hedged when hedging is on.
func Idempotent(ctx context.Context) context.Context {
	return context.WithValue(ctx, idempotentKey{}, true)
}

func (c *Client) idempotent(ctx context.Context, method string) bool {
	if c.o.idempotent[method] {
		return true
	}
	v, _ := ctx.Value(idempotentKey{}).(bool)
	return v
}

// Call calls method on one endpoint and waits for the result, decoded into
// reply (a pointer, or nil to discard it). A call that provably did not
// run there (refused, sent to a server going away, never sent) is retried
// on another endpoint, unless it was refused for its credentials
// (ferry.CodePermissionDenied, ferry.CodeUnauthenticated: every endpoint
// would refuse them); a call that may have run is retried only when it
// is idempotent (WithIdempotent, Idempotent). Errors are *ferry.Error, as
// from client.Client.Call.
func (c *Client) Call(ctx context.Context, method string, args, reply any) error {
	if err := status.CheckCall(ctx, method, reply); err != nil {
		return err
	}
	c.budget.deposit()
	if c.o.hedgeDelay > 0 && c.o.maxAttempts > 1 && c.idempotent(ctx, method) {
		return c.hedge(ctx, method, args, reply)
	}
	var tried []*endpoint
	var last, unsure error
	for attempt := 1; ; attempt++ {
		e, conn, err := c.pick(ctx, method, tried, true)
		if err != nil {
			return finalError(err, last, unsure)
		}
		err = e.call(ctx, conn, method, args, reply)
		if err == nil {
			return nil
		}
		if !ferry.NotExecuted(err) && unsure == nil {
			unsure = err
		}
		if !c.retryable(ctx, method, err, attempt) {
			return finalError(err, nil, unsure)
		}
		tried, last = append(tried, e), err
	}
}

// finalError is what a call that gave up returns: the last attempt's
// error (rather than a later failure to find an endpoint), but never a
// "not executed" one when an earlier attempt may have run.
func finalError(err, last, unsure error) error {
	if last != nil {
		err = last
	}
	if unsure != nil && ferry.NotExecuted(err) {
		return unsure
	}
	return err
}

// call makes one attempt on e, which admitted it on conn.
func (e *endpoint) call(ctx context.Context, conn *client.Client, method string, args, reply any) error {
	err := conn.Call(ctx, method, args, reply)
	e.done(ctx, conn, err)
	return e.cut(ctx, err)
}

// cut maps the error of an attempt whose connection this Client closed
// while the caller and the Client were still waiting (its drain timeout
// passed after the endpoint left or announced it was going away): the
// endpoint did not answer in time, CodeUnavailable, not a Close of the
// caller's (ferry.ErrClosed, CodeCanceled). Its not-executed flag stays.
func (e *endpoint) cut(ctx context.Context, err error) error {
	if err == nil || !errors.Is(err, ferry.ErrClosed) || ctx.Err() != nil || e.c.ctx.Err() != nil {
		return err
	}
	fe := ferry.Errorf(ferry.CodeUnavailable, "%s did not answer within the drain timeout after it began going away or left the set", e.addr)
	if ferry.NotExecuted(err) {
		fe = ferry.MarkNotExecuted(fe)
	}
	return fe
}

// retryable decides whether attempt, which failed with err, may be
// followed by another, spending the retry budget where that adds load.
func (c *Client) retryable(ctx context.Context, method string, err error, attempt int) bool {
	if attempt >= c.o.maxAttempts || ctx.Err() != nil || c.ctx.Err() != nil {
		return false
	}
	code := ferry.CodeOf(err)
	switch {
	case code == ferry.CodePermissionDenied || code == ferry.CodeUnauthenticated:
		return false // every server refuses the same credentials
	case errors.Is(err, wire.ErrTooLarge):
		return false // a request over this side's limit, or the server's (which the hello told; a cluster's servers share theirs): never sent
	case ferry.NotExecuted(err) && errors.Is(err, wire.ErrTooDeep):
		return false // nested past this side's MaxDepth or the server's: never sent, as above
	case ferry.NotExecuted(err) && code != ferry.CodeResourceExhausted:
		return true // it ran nowhere and loaded nobody: free
	case ferry.NotExecuted(err):
		return c.budget.withdraw() // refused for overload: retry, within budget
	case code == ferry.CodeUnavailable && c.idempotent(ctx, method):
		return c.budget.withdraw()
	}
	return false
}

// Go starts a call, with Call's retries, and returns at once. reply must
// not be touched until the call's Done channel is closed.
func (c *Client) Go(ctx context.Context, method string, args, reply any) *ferry.Call {
	call := async.New(method, args, reply)
	if err := status.CheckCall(ctx, method, reply); err != nil {
		async.Finish(call, err)
		return call
	}
	if !c.spawn(func() { async.Finish(call, c.Call(ctx, method, args, reply)) }) {
		async.Finish(call, errClientClosed)
	}
	return call
}

// Notify sends a one-way notification to one endpoint. No response ever
// comes; a notification that could not be sent (the endpoint was going
// away) is sent to another. It returns once the message is queued.
func (c *Client) Notify(ctx context.Context, method string, args any) error {
	if err := status.CheckContext(ctx, method); err != nil {
		return err
	}
	var tried []*endpoint
	var last error
	for attempt := 1; ; attempt++ {
		e, conn, err := c.pick(ctx, method, tried, true)
		if err != nil {
			if last != nil {
				return last
			}
			return err
		}
		err = conn.Notify(ctx, method, args)
		e.done(ctx, conn, err)
		if err == nil || !ferry.NotExecuted(err) || attempt >= c.o.maxAttempts || ctx.Err() != nil {
			return err
		}
		tried, last = append(tried, e), err
	}
}
