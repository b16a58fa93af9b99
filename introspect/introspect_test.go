package introspect_test

import (
	"context"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/introspect"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type Args struct{ A, B int64 }

type Arith struct{}

func (Arith) Add(ctx context.Context, a Args, r *int64) error { *r = a.A + a.B; return nil }

// serve starts s with introspection on an in-memory pipe and returns a
// client; both are closed at cleanup.
func serve(t *testing.T, s *server.Server, opts ...client.Option) *client.Client {
	t.Helper()
	require.NoError(t, introspect.Register(s))
	return ferrytest.Pipe(t, s, opts...)
}

func newServer(t *testing.T) *server.Server {
	t.Helper()
	s := server.New()
	require.NoError(t, s.Register(Arith{}))
	require.NoError(t, server.Handle(s, "Tree.Walk", func(ctx context.Context, n *Node) (*Node, error) { return n, nil }))
	require.NoError(t, s.HandleStream("Chat.Talk", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) { return nil, nil }))
	return s
}

func TestListOverTheWire(t *testing.T) {
	c := serve(t, newServer(t))
	var r introspect.ListReply
	require.NoError(t, c.Call(t.Context(), introspect.ListMethod, nil, &r))
	assert.Equal(t, introspect.ListReply{Services: []introspect.Service{
		{Name: "Arith", Methods: []introspect.Method{{Name: "Arith.Add", Kind: "unary"}}},
		{Name: "Chat", Methods: []introspect.Method{{Name: "Chat.Talk", Kind: "bidi"}}},
		{Name: "Introspect", Methods: []introspect.Method{
			{Name: "Introspect.Describe", Kind: "unary"}, {Name: "Introspect.List", Kind: "unary"}}},
		{Name: "Tree", Methods: []introspect.Method{{Name: "Tree.Walk", Kind: "unary"}}},
	}}, r)
}

func TestListSeesLaterRegistrations(t *testing.T) {
	s := newServer(t)
	c := serve(t, s)
	require.NoError(t, server.Handle(s, "Late.Comer", func(ctx context.Context, _ *struct{}) (*struct{}, error) { return nil, nil }))
	var r introspect.ListReply
	require.NoError(t, c.Call(t.Context(), introspect.ListMethod, nil, &r))
	assert.Equal(t, "Late", r.Services[3].Name)
}

func TestDescribeOverTheWire(t *testing.T) {
	c := serve(t, newServer(t))
	var d introspect.Description
	require.NoError(t, c.Call(t.Context(), introspect.DescribeMethod, introspect.DescribeArgs{Method: "Arith.Add"}, &d))
	assert.Equal(t, "Arith.Add", d.Name)
	assert.Equal(t, "unary", d.Kind)
	assert.Equal(t, []string{"A", "B"}, d.Args.Order)
	assert.Equal(t, &introspect.Schema{Type: "integer", Format: "int64"}, d.Reply)

	// A bare string works as the argument too (["Tree.Walk"] from Python).
	require.NoError(t, c.Call(t.Context(), introspect.DescribeMethod, "Tree.Walk", &d))
	assert.Equal(t, "#/$defs/introspect_test.Node", d.Args.Ref)
	assert.Contains(t, d.Defs, "introspect_test.Node")

	d = introspect.Description{}
	require.NoError(t, c.Call(t.Context(), introspect.DescribeMethod, "Chat.Talk", &d))
	assert.Equal(t, "bidi", d.Kind)
}

func TestDescribeIntrospectItself(t *testing.T) {
	c := serve(t, server.New())
	var d introspect.Description
	require.NoError(t, c.Call(t.Context(), introspect.DescribeMethod, introspect.DescribeMethod, &d))
	// Schema refers to itself: described once, under $defs.
	require.Contains(t, d.Defs, "introspect.Schema")
	assert.Equal(t, "#/$defs/introspect.Schema", d.Reply.Properties["args"].Ref)
}

func TestDescribeUnknownMethod(t *testing.T) {
	c := serve(t, server.New())
	err := c.Call(t.Context(), introspect.DescribeMethod, "No.Such", nil)
	assert.Equal(t, ferry.CodeNotFound, ferry.CodeOf(err))
}

func TestRegisterTwiceFails(t *testing.T) {
	s := server.New()
	require.NoError(t, introspect.Register(s))
	assert.Error(t, introspect.Register(s))
}
