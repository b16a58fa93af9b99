package chat_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/examples/chat/chat"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAuditV11ServeEndsTheRoom checks Serve's "serves the room until ctx
// ends" with a member still in the room: once ctx ends, that member's
// subscription ends too (a subscription never finishes by itself, so the
// server's graceful shutdown would wait for it forever), Member returns
// an error of code ferry.CodeUnavailable, and Serve returns nil once the
// server has shut down. Before this audit the member was never told and
// Serve's shutdown waited for it to leave.
func TestAuditV11ServeEndsTheRoom(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ready := make(chan string, 1)
	served := make(chan error, 1)
	go func() { served <- chat.Serve(ctx, "127.0.0.1:0", ready) }()
	addr := <-ready

	in, w := io.Pipe() // the member never stops typing on its own
	defer w.Close()
	out := &syncBuffer{ch: make(chan struct{}, 1)}
	mctx, mcancel := context.WithCancel(t.Context())
	defer mcancel()
	left := make(chan error, 1)
	go func() { left <- chat.Member(mctx, addr, "alice", in, out) }()
	for !strings.Contains(out.String(), "[joined]") {
		<-out.ch
	}

	cancel()
	select {
	case err := <-left:
		assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%v", err)
	case <-time.After(10 * time.Second):
		mcancel()
		t.Fatal("the member was not told that the room closed")
	}
	select {
	case err := <-served:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
}
