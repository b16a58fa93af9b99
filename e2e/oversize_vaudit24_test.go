package e2e_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit24RecvOversize: server.Stream.Recv "returns ...
// CodeResourceExhausted for a message over the server's MaxMessageSize;
// after that failure nothing more can be received, and the caller gets it
// as the call's status even if the handler returns nil." A caller
// without Ferry's client (which never sends such a message) sends one.
func TestVaudit24RecvOversize(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.MaxMessageSize = 16 << 10
	got := make(chan [3]error, 1)
	s := server.New(server.WithConfig(cfg))
	require.NoError(t, s.HandleStream("S.Take", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		var first string
		var r [3]error
		r[0] = st.Recv(&first)
		r[1] = st.Recv(&first)
		r[2] = st.Recv(&first)
		got <- r
		return "ignored", nil
	}))
	addr := ferrytest.Serve(t, s)
	sess := dialSession(t, addr)
	st := sess.openCall("S.Take")
	st.write(frame("small"), frame(strings.Repeat("x", 20<<10)), frame("after"))
	var r [3]error
	select {
	case r = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler did not finish")
	}
	assert.NoError(t, r[0])
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(r[1]), "%v", r[1])
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(r[2]), "nothing more can be received: %v", r[2])
	msgs, resp := st.status()
	assert.Empty(t, msgs)
	assert.EqualValues(t, ferry.CodeResourceExhausted, resp.code(), "the caller gets it as the call's status: %+v", resp)
}

// TestVaudit24RecvPartialStall: "A caller that holds part of a message
// past PartialMessageTimeout (transport.Config) has the stream closed:
// Recv returns CodeUnavailable, and no status is sent."
func TestVaudit24RecvPartialStall(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.PartialMessageTimeout = 200 * time.Millisecond
	got := make(chan error, 1)
	s := server.New(server.WithConfig(cfg))
	require.NoError(t, s.HandleStream("S.Take", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		var v string
		err := st.Recv(&v)
		got <- err
		return "ignored", err
	}))
	addr := ferrytest.Serve(t, s)
	sess := dialSession(t, addr)
	st := sess.openCall("S.Take")
	whole := frame(strings.Repeat("x", 1000))
	st.write(whole[:20])
	select {
	case err := <-got:
		assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("Recv did not return")
	}
	require.NoError(t, st.st.SetReadDeadline(time.Now().Add(5*time.Second)))
	buf := make([]byte, 64)
	n, err := st.r.Read(buf)
	assert.Error(t, err, "no status is sent: got %x", buf[:n])
	assert.Zero(t, n)
}
