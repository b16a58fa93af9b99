package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit24HandlerErrors: "A handler's *Error reaches the caller with
// its code, message and details intact; any other handler error arrives
// as CodeUnknown carrying its message, and a nil *Error returned as a
// non-nil error as CodeInternal"; errors.Is(err,
// context.DeadlineExceeded) holds for a deadline that passed on either
// side; streams' statuses are encoded as unary calls'. A code outside
// the set (0 included) arrives as CodeUnknown: the doc said every code
// arrived intact, and the caller got unknown for 99 and for 0.
func TestVaudit24HandlerErrors(t *testing.T) {
	cases := map[string]struct {
		err  error
		code ferry.Code
		msg  string
		det  map[string]string
		is   error
	}{
		"an *Error":          {ferry.NewError(ferry.CodeNotFound, "gone").WithDetail("id", "7"), ferry.CodeNotFound, "gone", map[string]string{"id": "7"}, nil},
		"a wrapped *Error":   {fmt.Errorf("ctx: %w", ferry.NewError(ferry.CodeAborted, "conflict")), ferry.CodeAborted, "conflict", nil, nil},
		"a plain error":      {errors.New("plain"), ferry.CodeUnknown, "plain", nil, nil},
		"a typed nil":        {(*ferry.Error)(nil), ferry.CodeInternal, "", nil, nil},
		"own deadline":       {context.DeadlineExceeded, ferry.CodeDeadlineExceeded, "", nil, context.DeadlineExceeded},
		"own cancel":         {context.Canceled, ferry.CodeCanceled, "", nil, context.Canceled},
		"a code off the set": {ferry.NewError(ferry.Code(99), "odd").WithDetail("k", "v"), ferry.CodeUnknown, "odd", map[string]string{"k": "v"}, nil},
		"code zero":          {&ferry.Error{Message: "zero"}, ferry.CodeUnknown, "zero", nil, nil},
	}
	s := newServer(t)
	for name, tc := range cases {
		require.NoError(t, server.Handle(s, "E."+v24Key(name), func(ctx context.Context, _ *struct{}) (*int, error) { return nil, tc.err }))
		require.NoError(t, s.HandleStream("ES."+v24Key(name), server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) { return nil, tc.err }))
	}
	c := dialTCP(t, s)
	for name, tc := range cases {
		check := func(how string, err error) {
			var fe *ferry.Error
			require.ErrorAs(t, err, &fe, "%s %s", name, how)
			assert.Equal(t, tc.code, fe.Code, "%s %s: %v", name, how, err)
			if tc.msg != "" {
				assert.Equal(t, tc.msg, fe.Message, "%s %s", name, how)
			}
			if tc.det != nil {
				assert.Equal(t, tc.det, fe.Details, "%s %s", name, how)
			}
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is, "%s %s", name, how)
			}
			assert.False(t, ferry.NotExecuted(err), "%s %s", name, how)
		}
		check("unary", c.Call(t.Context(), "E."+v24Key(name), nil, nil))
		st, err := c.NewStream(t.Context(), "ES."+v24Key(name))
		require.NoError(t, err)
		check("stream", st.Recv(new(int)))
		st.Close()
	}

	// The caller's deadline, passed on the server side first.
	require.NoError(t, server.Handle(s, "E.Wait", func(ctx context.Context, _ *struct{}) (*int, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}))
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err := c.Call(ctx, "E.Wait", nil, nil)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(err))
}

// v24Key names a case's methods.
func v24Key(name string) string {
	k := []byte(name)
	for i, b := range k {
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z') {
			k[i] = 'X'
		}
	}
	return string(k)
}
