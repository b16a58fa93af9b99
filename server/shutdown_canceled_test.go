package server_test

import (
	"context"
	"testing"

	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestShutdownCanceledCtxIdle: Shutdown's "returns ctx's error if ctx ends
// before the handlers finish, nil otherwise" with a ctx canceled before
// the call, on a server whose connections run no handler: no handler was
// cut off, so nil, every time (it was nil or ctx's error at random, by
// which of two ready channels a select took).
func TestShutdownCanceledCtxIdle(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range 20 {
		s := server.New()
		require.NoError(t, server.Handle(s, "C.Nop", func(context.Context, *struct{}) (*bool, error) { return new(bool), nil }))
		c, _ := ferrytest.ServeAndDial(t, s)
		require.NoError(t, c.Call(t.Context(), "C.Nop", struct{}{}, new(bool)))
		assert.NoError(t, s.Shutdown(ctx), "run %d: a connected client, no handler running", i)
		s2 := server.New()
		ferrytest.Serve(t, s2)
		assert.NoError(t, s2.Shutdown(ctx), "run %d: no connection", i)
	}
}
