package e2e

import (
	"context"
	"errors"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// v18Node is a value that may contain itself.
type v18Node struct {
	Name string
	Next *v18Node
}

// v18Tree points back at its parent through fields the encoder skips.
type v18Tree struct {
	Name   string
	Kids   []*v18Tree
	Parent *v18Tree `msgpack:"-"`
	up     *v18Tree
}

// cyclicValues are values that contain themselves, one per way a Go
// value can: through a pointer field, an interface holding a pointer to
// itself, a map and a slice holding themselves.
func cyclicValues() map[string]any {
	node := &v18Node{Name: "loop"}
	node.Next = node
	p := new(any)
	*p = p
	m := map[string]any{}
	m["self"] = m
	s := []any{nil}
	s[0] = s
	return map[string]any{"pointer field": node, "interface": p, "map": m, "slice": s}
}

// TestVaudit18ValuesThatContainThemselves: the Caller doc's "Go never
// panics", MaxDepth's "bounds the nesting of arrays and maps in a message,
// read or sent (a unary request nested deeper fails at the caller, not
// executed; a reply is replaced by a ... error)", and codec.Marshal, for
// a value that contains itself, which nests without end. The encoder
// recursed until the goroutine's stack overflowed ("fatal error: stack
// overflow"), which no recover catches: the calling process died, and a
// handler returning such a reply killed the whole server. Now each is an
// error, and the server goes on; a tree whose back-pointers the encoder
// skips (tag "-", unexported) still encodes.
func TestVaudit18ValuesThatContainThemselves(t *testing.T) {
	s := server.New()
	var reply any
	require.NoError(t, server.Handle(s, "Loop.Get", func(_ context.Context, which *string) (*any, error) {
		r := cyclicValues()[*which]
		return &r, nil
	}))
	require.NoError(t, server.Handle(s, "Loop.Echo", func(_ context.Context, x *int) (*int, error) { return x, nil }))
	require.NoError(t, server.HandleBidi(s, "Loop.Stream", func(_ context.Context, st *server.BidiStream[any, any]) error {
		_, err := st.Recv()
		return err
	}))
	c, _ := ferrytest.ServeAndDial(t, s)

	for name, v := range cyclicValues() {
		t.Run(name, func(t *testing.T) {
			_, err := codec.Marshal(v)
			require.Error(t, err, "codec.Marshal")

			err = c.Call(t.Context(), "Loop.Echo", v, &reply)
			require.Error(t, err)
			assert.True(t, ferry.NotExecuted(err), "a request that cannot be encoded is not sent: %v", err)

			err = c.Call(t.Context(), "Loop.Get", name, &reply)
			require.Error(t, err, "a reply that contains itself")
			assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)

			st, err := client.OpenBidi[any, any](t.Context(), c, "Loop.Stream")
			require.NoError(t, err)
			assert.Error(t, st.Send(&v), "a stream message that contains itself")
			require.NoError(t, st.Close())

			var n int
			require.NoError(t, c.Call(t.Context(), "Loop.Echo", 7, &n), "the server and the connection go on")
			assert.Equal(t, 7, n)
		})
	}

	root := &v18Tree{Name: "root"}
	kid := &v18Tree{Name: "kid", Parent: root, up: root}
	root.Kids = []*v18Tree{kid}
	root.Parent, root.up = root, root
	b, err := codec.Marshal(root)
	require.NoError(t, err, "back-pointers the encoder skips are no cycle")
	var back map[string]any
	require.NoError(t, codec.Unmarshal(b, &back))
	assert.Equal(t, "root", back["Name"])
	var anyRoot any = root
	b2, err := codec.Marshal(&anyRoot)
	require.NoError(t, err)
	assert.Equal(t, b, b2)
	assert.False(t, errors.Is(err, codec.ErrDecode))
}
