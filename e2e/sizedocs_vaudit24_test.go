package e2e_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"unsafe"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit24StreamMessageLimits: a message over the other side's
// MaxMessageSize is not sent (resource_exhausted) and the stream goes
// on, both ways; a result past the client's is replaced by a
// resource_exhausted status.
func TestVaudit24StreamMessageLimits(t *testing.T) {
	small := transport.DefaultConfig()
	small.MaxMessageSize = 16 << 10
	type sent struct{ big, small error }
	got := make(chan sent, 1)
	s := newServer(t, server.WithConfig(small))
	require.NoError(t, s.HandleStream("S.Big", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		var r sent
		r.big = st.Send(strings.Repeat("x", 20<<10)) // over the client's 16 KiB
		r.small = st.Send("ok")
		got <- r
		var v string
		for {
			if err := st.Recv(&v); err != nil {
				if err == io.EOF {
					return strings.Repeat("y", 20<<10), nil // a result past the client's limit
				}
				return nil, err
			}
		}
	}))
	c := dialTCP(t, s, client.WithConfig(small))
	st, err := c.NewStream(t.Context(), "S.Big")
	require.NoError(t, err)
	defer st.Close()
	r := <-got
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(r.big), "%v", r.big)
	assert.NoError(t, r.small, "the stream goes on")
	var v string
	require.NoError(t, st.Recv(&v))
	assert.Equal(t, "ok", v)

	err = st.Send(strings.Repeat("z", 20<<10))
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "over the server's limit: %v", err)
	require.NoError(t, st.Send("fits"), "the stream goes on")
	require.NoError(t, st.CloseSend())
	err = st.Recv(&v)
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "a result past the client's limit: %v", err)
}

// TestVaudit24ReplyInPlace: "A *[]byte reply whose slice has the
// capacity is filled in place".
func TestVaudit24ReplyInPlace(t *testing.T) {
	s := newServer(t)
	require.NoError(t, server.Handle(s, "B.Bytes", func(ctx context.Context, n *int) (*[]byte, error) {
		b := make([]byte, *n)
		for i := range b {
			b[i] = byte(i)
		}
		return &b, nil
	}))
	c := dialTCP(t, s)
	for _, n := range []int{100, 100 << 10} {
		buf := make([]byte, 0, 200<<10)
		p := unsafe.SliceData(buf)
		require.NoError(t, c.Call(t.Context(), "B.Bytes", n, &buf))
		require.Len(t, buf, n)
		assert.Equal(t, p, unsafe.SliceData(buf), "filled in place, n=%d", n)
		assert.Equal(t, byte(99), buf[99])
	}
}

// TestVaudit24RegistrationRules: one table, one kind a name; a method of
// the wrong shape is an error naming it; metadata keys are case-sensitive;
// a unary request to a streaming method and a stream to a unary method
// are unimplemented without the flag, an unknown stream with it; an
// interceptor renames a call by passing next a CallInfo of its own.
func TestVaudit24RegistrationRules(t *testing.T) {
	renamed := func(ctx context.Context, info *ferry.CallInfo, args, reply any, next ferry.Invoker) error {
		if info.Method == "Old.Name" {
			return next(ctx, &ferry.CallInfo{Method: "Echo.Echo"}, args, reply)
		}
		return next(ctx, info, args, reply)
	}
	s := v24Server(t)
	require.Error(t, server.Handle(s, "S.Echo", func(ctx context.Context, _ *int) (*int, error) { return nil, nil }))
	require.Error(t, s.HandleStream("Echo.Echo", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) { return nil, nil }))
	err := s.RegisterName("Bad", v24BadShape{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Wrong")

	require.NoError(t, server.Handle(s, "M.Keys", func(ctx context.Context, _ *struct{}) (*map[string]string, error) {
		md := map[string]string(ferry.IncomingMetadata(ctx))
		return &md, nil
	}))
	c := dialTCP(t, s, client.WithInterceptors(renamed))
	var md map[string]string
	require.NoError(t, c.Call(ferry.WithOutgoingMetadata(t.Context(), ferry.Metadata{"K": "1", "k": "2"}), "M.Keys", nil, &md))
	assert.Equal(t, map[string]string{"K": "1", "k": "2"}, md)

	var out int
	require.NoError(t, c.Call(t.Context(), "Old.Name", 5, &out))
	assert.Equal(t, 5, out)

	err = c.Call(t.Context(), "S.Echo", 1, nil)
	assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err), "%v", err)
	assert.False(t, ferry.NotExecuted(err))
	for name, want := range map[string]bool{"Echo.Echo": false, "No.Such": true} {
		st, err := c.NewStream(t.Context(), name)
		if err == nil {
			err = st.Recv(new(int))
			st.Close()
		}
		assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err), "%s: %v", name, err)
		assert.Equal(t, want, ferry.NotExecuted(err), "%s: %v", name, err)
	}
}

type v24BadShape struct{}

// Good has the right shape.
func (v24BadShape) Good(ctx context.Context, a int, r *int) error { return nil }

// Wrong has not.
func (v24BadShape) Wrong(a int) int { return a }
