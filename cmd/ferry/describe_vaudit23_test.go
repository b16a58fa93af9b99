package main

import (
	"context"
	"testing"

	"github.com/ferryrpc/ferry/introspect"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit23DescribeAllOfAnEmptyList: "ferry describe ADDR" (no name:
// every method) against a server whose Introspect.List names no method
// (one that answers it by hand, or any server's answer: it is what the
// server sent) panicked with an index out of range, reporting "no
// service" for the name that was not given. Now it says the server lists
// no method, with exit status 15 (not_found) as for an unknown service.
func TestVaudit23DescribeAllOfAnEmptyList(t *testing.T) {
	s := server.New()
	require.NoError(t, server.Handle(s, introspect.ListMethod, func(context.Context, *struct{}) (*introspect.ListReply, error) {
		return &introspect.ListReply{}, nil
	}))
	addr := serve(t, s)
	var r result
	require.NotPanics(t, func() { r = ferryCmd(t, "describe", addr) })
	assert.Equal(t, 15, r.code, r.stderr)
	assert.Contains(t, r.stderr, "lists no method")
	assert.Empty(t, r.stdout)
}
