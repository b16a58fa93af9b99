package ferry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestErrorString(t *testing.T) {
	assert.Equal(t, "ferry: not_found: no user 7", ferry.Errorf(ferry.CodeNotFound, "no user %d", 7).Error())
	assert.Equal(t, "ferry: internal", ferry.NewError(ferry.CodeInternal, "").Error())
	assert.Equal(t, "ferry: code_99", ferry.NewError(99, "").Error())
}

func TestCodeStringAndValid(t *testing.T) {
	assert.Equal(t, "invalid_argument", ferry.CodeInvalidArgument.String())
	assert.Equal(t, "unauthenticated", ferry.CodeUnauthenticated.String())
	assert.Equal(t, "code_0", ferry.Code(0).String())
	for c := ferry.CodeCanceled; c <= ferry.CodeUnauthenticated; c++ {
		assert.True(t, c.Valid(), c)
	}
	assert.False(t, ferry.Code(0).Valid())
	assert.False(t, ferry.Code(17).Valid())
}

func TestCodeOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want ferry.Code
	}{
		{"nil", nil, 0},
		{"ferry error", ferry.NewError(ferry.CodeAborted, "x"), ferry.CodeAborted},
		{"wrapped ferry error", fmt.Errorf("outer: %w", ferry.NewError(ferry.CodeDataLoss, "x")), ferry.CodeDataLoss},
		{"context canceled", context.Canceled, ferry.CodeCanceled},
		{"wrapped deadline", fmt.Errorf("op: %w", context.DeadlineExceeded), ferry.CodeDeadlineExceeded},
		{"other", io.EOF, ferry.CodeUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, ferry.CodeOf(tt.err))
		})
	}
}

// A remote Canceled or DeadlineExceeded, which carries no local cause,
// unwraps to the context error; other codes unwrap to nothing.
func TestUnwrapToContextErrors(t *testing.T) {
	canceled := ferry.NewError(ferry.CodeCanceled, "the caller gave up")
	assert.ErrorIs(t, canceled, context.Canceled)
	assert.NotErrorIs(t, canceled, context.DeadlineExceeded)
	assert.ErrorIs(t, ferry.NewError(ferry.CodeDeadlineExceeded, ""), context.DeadlineExceeded)
	assert.NoError(t, ferry.NewError(ferry.CodeInternal, "x").Unwrap())
}

// WrapError's cause is what errors.Is sees, even for a canceled code.
func TestWrapError(t *testing.T) {
	err := ferry.WrapError(ferry.CodeCanceled, ferry.ErrClosed, "closed by this side")
	assert.ErrorIs(t, err, ferry.ErrClosed)
	assert.NotErrorIs(t, err, context.Canceled, "the cause replaces the code's context error")
	assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err))
	assert.Equal(t, "ferry: canceled: closed by this side", err.Error())
}

func TestFromError(t *testing.T) {
	assert.Nil(t, ferry.FromError(nil))

	fe := ferry.NewError(ferry.CodeNotFound, "x")
	assert.Same(t, fe, ferry.FromError(fmt.Errorf("wrapped: %w", fe)), "an *Error is returned as is")

	got := ferry.FromError(context.DeadlineExceeded)
	assert.Equal(t, ferry.CodeDeadlineExceeded, got.Code)
	assert.Equal(t, context.DeadlineExceeded.Error(), got.Message)

	got = ferry.FromError(errors.New("disk on fire"))
	assert.Equal(t, &ferry.Error{Code: ferry.CodeUnknown, Message: "disk on fire"}, got)
}

// MarkNotExecuted flags a copy; NotExecuted finds the flag through
// wrapping and never on other errors.
func TestNotExecuted(t *testing.T) {
	fe := ferry.NewError(ferry.CodeUnavailable, "shutting down")
	marked := ferry.MarkNotExecuted(fe)
	assert.True(t, ferry.NotExecuted(marked))
	assert.False(t, ferry.NotExecuted(fe), "the original is not modified")
	assert.True(t, ferry.NotExecuted(fmt.Errorf("call: %w", marked)))
	assert.False(t, ferry.NotExecuted(nil))
	assert.False(t, ferry.NotExecuted(context.Canceled))
	assert.Equal(t, fe.Error(), marked.Error())
}

func TestWithDetail(t *testing.T) {
	e := ferry.NewError(ferry.CodeInvalidArgument, "bad").WithDetail("field", "name").WithDetail("rule", "required")
	assert.Equal(t, map[string]string{"field": "name", "rule": "required"}, e.Details)
	var target *ferry.Error
	require.ErrorAs(t, fmt.Errorf("x: %w", e), &target)
	assert.Same(t, e, target)
}
