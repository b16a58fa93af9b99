package status

import (
	"context"
	"reflect"

	"github.com/ferryrpc/ferry"
)

// CheckContext refuses, before anything is sent, a call, notification or
// stream whose ctx is nil (it would panic on first use):
// CodeInvalidArgument, not executed. It returns nil for any other ctx.
func CheckContext(ctx context.Context, method string) error {
	if ctx == nil {
		return ferry.MarkNotExecuted(ferry.Errorf(ferry.CodeInvalidArgument, "%s: nil context.Context", method))
	}
	return nil
}

// CheckCall is CheckContext, and refuses as well a reply that is neither
// nil (discard the result) nor a non-nil pointer: the result could not be
// decoded into it, but only after the peer's handler had run.
func CheckCall(ctx context.Context, method string, reply any) error {
	if err := CheckContext(ctx, method); err != nil {
		return err
	}
	if reply == nil {
		return nil
	}
	got := "a %T"
	switch v := reflect.ValueOf(reply); {
	case v.Kind() != reflect.Pointer:
	case v.IsNil():
		got = "a nil %T"
	default:
		return nil
	}
	return ferry.MarkNotExecuted(ferry.Errorf(ferry.CodeInvalidArgument,
		"%s: reply must be a non-nil pointer, or nil to discard the result; got "+got, method, reply))
}
