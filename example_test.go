package ferry_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ferryrpc/ferry"
)

// Handlers return an *Error to give the caller a code, a message and
// machine-readable details; errors.As finds it through any wrapping.
func ExampleError() {
	err := fmt.Errorf("loading user: %w",
		ferry.Errorf(ferry.CodeNotFound, "no user %d", 7).WithDetail("table", "users"))

	var fe *ferry.Error
	if errors.As(err, &fe) {
		fmt.Println(fe.Code, fe.Message, fe.Details["table"])
	}
	fmt.Println(err)
	// Output:
	// not_found no user 7 users
	// loading user: ferry: not_found: no user 7
}

func ExampleCodeOf() {
	fmt.Println(ferry.CodeOf(ferry.NewError(ferry.CodePermissionDenied, "no")))
	fmt.Println(ferry.CodeOf(context.DeadlineExceeded))
	fmt.Println(ferry.CodeOf(errors.New("disk on fire")))
	fmt.Println(ferry.CodeOf(nil) == 0)
	// Output:
	// permission_denied
	// deadline_exceeded
	// unknown
	// true
}

// A remote cancellation or deadline unwraps to the context error, so the
// same errors.Is check serves local and remote failures.
func ExampleError_Unwrap() {
	remote := ferry.NewError(ferry.CodeDeadlineExceeded, "the handler ran out of time")
	fmt.Println(errors.Is(remote, context.DeadlineExceeded))

	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	fmt.Println(errors.Is(ferry.FromError(ctx.Err()), context.DeadlineExceeded))
	// Output:
	// true
	// true
}

// NotExecuted tells a caller that the call never reached a handler, so
// retrying it is safe even when it is not idempotent.
func ExampleNotExecuted() {
	refused := ferry.MarkNotExecuted(ferry.NewError(ferry.CodeResourceExhausted, "too many calls"))
	lost := ferry.NewError(ferry.CodeUnavailable, "connection lost")
	for _, err := range []error{refused, lost} {
		fmt.Printf("%v: retry safe: %v\n", err, ferry.NotExecuted(err))
	}
	// Output:
	// ferry: resource_exhausted: too many calls: retry safe: true
	// ferry: unavailable: connection lost: retry safe: false
}

// Metadata travels with a call; printing it hides secret-looking values.
func ExampleWithOutgoingMetadata() {
	ctx := ferry.WithOutgoingMetadata(context.Background(), ferry.Metadata{"tenant": "blue"})
	ctx = ferry.WithOutgoingMetadata(ctx, ferry.Metadata{"authorization": "Bearer s3cr3t"})
	md := ferry.OutgoingMetadata(ctx)
	fmt.Println(md["tenant"], len(md))
	fmt.Println(ferry.Metadata{"authorization": md["authorization"]})
	// Output:
	// blue 2
	// Metadata{authorization=[redacted]}
}

// A client interceptor adds a pair to every call it sees without copying
// the metadata the call already carries.
func ExampleAppendOutgoingMetadata() {
	requestID := func(ctx context.Context, info *ferry.CallInfo, args, reply any, next ferry.Invoker) error {
		return next(ferry.AppendOutgoingMetadata(ctx, "request-id", "42"), info, args, reply)
	}
	send := func(ctx context.Context, _ *ferry.CallInfo, _, _ any) error {
		md := ferry.OutgoingMetadata(ctx) // what the call would carry
		fmt.Println(md["tenant"], md["request-id"], len(md))
		return nil
	}
	ctx := ferry.WithOutgoingMetadata(context.Background(), ferry.Metadata{"tenant": "blue"})
	_ = requestID(ctx, &ferry.CallInfo{Method: "Svc.Do"}, nil, nil, send)
	// Output: blue 42 2
}

// A server interceptor that looks for one key reads it alone: no map of
// the call's metadata is built for it.
func ExampleIncomingMetadataValue() {
	requireTenant := func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
		if _, ok := ferry.IncomingMetadataValue(ctx, "tenant"); !ok {
			return nil, ferry.Errorf(ferry.CodeInvalidArgument, "%s: no tenant", info.Method)
		}
		return next(ctx, args)
	}
	handler := func(ctx context.Context, args any) (any, error) {
		tenant, _ := ferry.IncomingMetadataValue(ctx, "tenant")
		return "hello " + tenant, nil
	}
	// What the server does for a call that arrived with metadata:
	ctx := ferry.NewIncomingContext(context.Background(), ferry.Metadata{"tenant": "blue"})
	fmt.Println(requireTenant(ctx, &ferry.CallInfo{Method: "Greeter.Hello"}, nil, handler))
	fmt.Println(requireTenant(context.Background(), &ferry.CallInfo{Method: "Greeter.Hello"}, nil, handler))
	// Output:
	// hello blue <nil>
	// <nil> ferry: invalid_argument: Greeter.Hello: no tenant
}
