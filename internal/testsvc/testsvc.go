// Package testsvc holds services shared by Ferry's tests, examples and
// benchmarks.
package testsvc

import (
	"context"
	"errors"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/codec"
)

// Args are two operands.
type Args struct {
	A, B int64
}

// Arith does integer arithmetic.
type Arith struct{}

// Add returns A+B.
func (Arith) Add(ctx context.Context, args Args, reply *int64) error {
	*reply = args.A + args.B
	return nil
}

// Div returns A/B truncated toward zero; B = 0 is an error.
func (Arith) Div(ctx context.Context, args Args, reply *int64) error {
	if args.B == 0 {
		return ferry.NewError(ferry.CodeInvalidArgument, "division by zero")
	}
	*reply = args.A / args.B
	return nil
}

// Echo returns its argument unchanged, whatever its msgpack shape.
type Echo struct{}

// Echo returns x.
func (Echo) Echo(ctx context.Context, x codec.Raw, reply *codec.Raw) error {
	*reply = x
	return nil
}

// Sleep waits for the given number of milliseconds or until ctx ends, and
// returns ctx's error in that case.
func (Echo) Sleep(ctx context.Context, ms int64, reply *bool) error {
	select {
	case <-time.After(time.Duration(ms) * time.Millisecond):
		*reply = true
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ErrPlain is what Echo.Fail returns.
var ErrPlain = errors.New("plain failure")

// Fail returns a plain error.
func (Echo) Fail(ctx context.Context, _ struct{}, _ *bool) error { return ErrPlain }

// Panic panics.
func (Echo) Panic(ctx context.Context, _ struct{}, _ *bool) error { panic("boom") }
