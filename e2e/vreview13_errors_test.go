package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview13EveryErrorIsAnError checks the root doc: "Every error a
// call returns is an *Error with a Code", for mistakes of the caller's own
// (a reply that is not a pointer, args that do not encode) through Call,
// Go, Notify, Invoke and Async, on an open and a closed client; a Go call
// never panics.
func TestVreview13EveryErrorIsAnError(t *testing.T) {
	s := newServer(t)
	require.NoError(t, server.Handle(s, "V13.Plain", func(ctx context.Context, _ *struct{}) (*int, error) {
		return nil, fmt.Errorf("plain %w", errors.New("cause"))
	}))
	require.NoError(t, server.Handle(s, "V13.Ctx", func(ctx context.Context, _ *struct{}) (*int, error) {
		return nil, context.DeadlineExceeded
	}))
	c := dialTCP(t, s)
	ctx := t.Context()
	check := func(name string, err error, code ferry.Code, notExecuted bool) {
		t.Helper()
		var fe *ferry.Error
		if assert.ErrorAs(t, err, &fe, name) {
			assert.Equal(t, code, fe.Code, "%s: %v", name, err)
			assert.Equal(t, notExecuted, ferry.NotExecuted(err), "%s: NotExecuted: %v", name, err)
			assert.Regexp(t, `^ferry: `+code.String()+`: `, err.Error(), name)
		}
	}
	var sum int64
	err := c.Call(ctx, "Arith.Add", client.Params{1, 2}, sum) // not a pointer
	assert.Error(t, err, "a reply that is not a pointer")
	if err != nil {
		var fe *ferry.Error
		assert.ErrorAs(t, err, &fe, "non-pointer reply: %v", err)
	}
	check("args that do not encode", c.Call(ctx, "Arith.Add", make(chan int), &sum), ferry.CodeInternal, true)
	call := c.Go(ctx, "Arith.Add", func() {}, &sum)
	<-call.Done()
	check("Go with args that do not encode", call.Err(), ferry.CodeInternal, true)
	assert.Error(t, c.Notify(ctx, "Arith.Add", make(chan int)))
	check("a plain handler error", c.Call(ctx, "V13.Plain", nil, nil), ferry.CodeUnknown, false)
	err = c.Call(ctx, "V13.Plain", nil, nil)
	assert.Equal(t, "ferry: unknown: plain cause", err.Error())
	err = c.Call(ctx, "V13.Ctx", nil, nil)
	check("a handler returning DeadlineExceeded", err, ferry.CodeDeadlineExceeded, false)
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	// Deadlines on both sides.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	err = c.Call(short, "Echo.Sleep", 5000, nil)
	check("deadline", err, ferry.CodeDeadlineExceeded, false)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	canceled, cancel2 := context.WithCancel(ctx)
	cancel2()
	err = c.Call(canceled, "Arith.Add", client.Params{1, 2}, &sum)
	check("canceled before sending", err, ferry.CodeCanceled, true)
	assert.ErrorIs(t, err, context.Canceled)
	_, err = client.Async[int](canceled, c, "Arith.Add", client.Params{1, 2}).Wait()
	check("Async canceled before sending", err, ferry.CodeCanceled, true)

	require.NoError(t, c.Close())
	err = c.Call(ctx, "Arith.Add", client.Params{1, 2}, &sum)
	check("after Close", err, ferry.CodeCanceled, true)
	assert.ErrorIs(t, err, ferry.ErrClosed)
	call = c.Go(ctx, "Arith.Add", client.Params{1, 2}, &sum)
	<-call.Done()
	assert.ErrorIs(t, call.Err(), ferry.ErrClosed)
	assert.True(t, ferry.NotExecuted(call.Err()))
	err = c.Notify(ctx, "Arith.Add", client.Params{1, 2})
	assert.ErrorIs(t, err, ferry.ErrClosed)
	_, err = client.Invoke[int](ctx, c, "Arith.Add", client.Params{1, 2})
	assert.ErrorIs(t, err, ferry.ErrClosed)
	_, err = c.NewStream(ctx, "Num.Double")
	assert.ErrorIs(t, err, ferry.ErrClosed)
}
