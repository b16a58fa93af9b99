package main

import (
	"context"
	"errors"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/examples/arith/arith"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDocsRunsAgainstTheServer checks the package doc: the client makes
// its calls three ways against the arith services without an error, and
// fails on one it did not expect (here, an Arith.Div that does not refuse
// a division by zero).
func TestDocsRunsAgainstTheServer(t *testing.T) {
	s := server.New()
	require.NoError(t, arith.Register(s))
	require.NoError(t, run(t.Context(), ferrytest.Serve(t, s)))

	odd := server.New()
	require.NoError(t, server.Handle(odd, "Arith.Add", func(_ context.Context, a *arith.Args) (*int64, error) {
		r := a.A + a.B
		return &r, nil
	}))
	require.NoError(t, server.Handle(odd, "Arith.Mul", arith.Mul))
	require.NoError(t, server.Handle(odd, "Arith.Div", func(context.Context, *arith.Args) (*int64, error) {
		return nil, ferry.NewError(ferry.CodeInternal, "no")
	}))
	err := run(t.Context(), ferrytest.Serve(t, odd))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "want an invalid_argument error")
	assert.False(t, errors.Is(err, context.Canceled))
}
