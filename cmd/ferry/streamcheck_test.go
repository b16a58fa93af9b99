package main

import (
	"context"
	"io"
	"testing"

	"github.com/ferryrpc/ferry/introspect"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// point is a bidi method's message.
type point struct{ X, Y int }

// pointServer serves Geo.Echo, a bidi method that echoes points, with
// introspection.
func pointServer(t *testing.T) string {
	t.Helper()
	s := server.New()
	require.NoError(t, server.HandleBidi(s, "Geo.Echo", func(ctx context.Context, bs *server.BidiStream[point, point]) error {
		for {
			p, err := bs.Recv()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := bs.Send(p); err != nil {
				return err
			}
		}
	}))
	require.NoError(t, introspect.Register(s))
	return serve(t, s)
}

// TestCallChecksStdinMessages: the messages a client-streaming or bidi
// call reads from standard input are checked against the method's
// description as params are: a line that does not fit cancels the call
// with invalid_argument's exit status, naming the line, the near miss and
// -nocheck; -nocheck sends it (the server ignores the unknown field).
func TestCallChecksStdinMessages(t *testing.T) {
	addr := pointServer(t)
	in := "{\"X\":1,\"Y\":2}\n{\"x\":3,\"Y\":4}\n{\"X\":5,\"Y\":6}\n"
	r := ferryCmdIn(t, in, "call", addr, "Geo.Echo")
	assert.Equal(t, 13, r.code, r.stderr)
	assert.Contains(t, r.stderr, "ferry: Geo.Echo: standard input, line 2: unknown field \"x\" (did you mean \"X\"?)\n")
	assert.Contains(t, r.stderr, "-nocheck sends them anyway")
	assert.NotContains(t, r.stdout, `"Y":4`, "the line was not sent")
	assert.NotContains(t, r.stdout, `"X":5`, "nor those after it")

	r = ferryCmdIn(t, "{\"X\":\"one\"}\n", "call", addr, "Geo.Echo")
	assert.Equal(t, 13, r.code, r.stderr)
	assert.Contains(t, r.stderr, "ferry: Geo.Echo: standard input, line 1: field X: want an integer, got \"one\"\n")

	r = ferryCmdIn(t, in, "call", "-nocheck", addr, "Geo.Echo")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "{\"X\":1,\"Y\":2}\n{\"X\":0,\"Y\":4}\n{\"X\":5,\"Y\":6}\n", r.stdout)

	// Messages that fit go out as before.
	r = ferryCmdIn(t, "{\"X\":1,\"Y\":2}\n\n{\"Y\":3}\n", "call", addr, "Geo.Echo")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "{\"X\":1,\"Y\":2}\n{\"X\":0,\"Y\":3}\n", r.stdout)
}
