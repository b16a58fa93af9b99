package cluster

import (
	"context"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/internal/msgpack"
)

type hedgeResult struct {
	raw codec.Raw
	err error
}

// hedge runs an idempotent call as up to maxAttempts overlapping
// attempts on different endpoints: a new one after each hedge delay
// without an answer, or at once when one fails in a retryable way. The
// first success wins and the rest are canceled. Each attempt decodes into
// its own buffer; only the winner's result reaches reply. (It is long
// because one loop owns all the attempts' state: launched, running, the
// errors so far.)
func (c *Client) hedge(ctx context.Context, method string, args, reply any) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan hedgeResult, c.o.maxAttempts)
	var tried []*endpoint
	var last, unsure error
	launched, running := 0, 0
	launch := func() bool {
		e, conn, err := c.pick(ctx, method, tried, running == 0)
		if err != nil {
			if last == nil {
				last = err
			}
			return false
		}
		tried = append(tried, e)
		if !c.spawn(func() {
			var raw codec.Raw
			err := e.call(ctx, conn, method, args, &raw)
			results <- hedgeResult{raw: raw, err: err}
		}) {
			e.done(ctx, conn, nil)
			last = errClientClosed
			return false
		}
		launched++
		running++
		return true
	}
	if !launch() {
		return last
	}
	fail := func(err error) error { return finalError(err, nil, unsure) }
	timer := time.NewTimer(c.o.hedgeDelay)
	defer timer.Stop()
	for running > 0 {
		select {
		case <-timer.C:
			if launched < c.o.maxAttempts && c.budget.withdraw() && !launch() {
				c.budget.refund() // no endpoint was ready: no hedge was sent
			}
			if launched < c.o.maxAttempts {
				timer.Reset(c.o.hedgeDelay)
			}
		case r := <-results:
			running--
			if r.err == nil {
				cancel() // the losers
				if reply == nil {
					return nil
				}
				if err := codec.Unmarshal(r.raw, reply); err != nil {
					return ferry.Errorf(ferry.CodeInternal, "cannot decode the result into %T: %s", reply, msgpack.Reason(err))
				}
				return nil
			}
			if ferry.CodeOf(r.err) != ferry.CodeCanceled || last == nil {
				last = r.err
			}
			if !ferry.NotExecuted(r.err) && unsure == nil {
				unsure = r.err
			}
			if !c.retryable(ctx, method, r.err, launched) {
				if running == 0 || !isTransient(r.err) {
					return fail(r.err)
				}
				continue // others are still running
			}
			launch()
		}
	}
	return fail(last)
}

// isTransient reports errors that say nothing about the other attempts.
func isTransient(err error) bool {
	switch ferry.CodeOf(err) {
	case ferry.CodeUnavailable, ferry.CodeResourceExhausted, ferry.CodeDeadlineExceeded:
		return true
	}
	return false
}
