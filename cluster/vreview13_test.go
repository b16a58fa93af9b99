package cluster_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/cluster"
	"github.com/ferryrpc/ferry/resolver"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview13StreamMessageThatDoesNotFitKeepsTheCall checks that a
// cluster stream keeps client.Stream.Recv's contract ("A message that does
// not decode into v is dropped with CodeInternal ..., and the call goes
// on"): the cluster doc fails a stream to its caller only when it is
// broken, and a message the caller's type cannot hold breaks nothing.
func TestVreview13StreamMessageThatDoesNotFitKeepsTheCall(t *testing.T) {
	n := startStreamNode(t, "a", false)
	c := streamCluster(t, []*streamNode{n})

	st, err := c.NewStream(t.Context(), "Svc.Chat")
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.Send(&tagged{Text: "one"}))
	var wrong int
	err = st.Recv(&wrong)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
	require.NoError(t, st.Send(&tagged{Text: "two"}), "the call goes on")
	var m tagged
	require.NoError(t, st.Recv(&m), "the call goes on")
	assert.Equal(t, tagged{Text: "two", Node: "a"}, m)
	require.NoError(t, st.CloseSend())
	assert.Equal(t, io.EOF, st.Recv(&m))
	assert.Equal(t, int64(0), c.StreamStats().Failed, "no stream failed")
}

// TestVreview13CallersMistakesOpenNoBreaker: the circuit breaker opens
// "after failures consecutive failed calls (unavailable, deadline exceeded,
// resource exhausted)" of an endpoint, and EndpointInfo.Failures counts
// "attempts that failed for want of the endpoint". A request over the
// caller's own MaxMessageSize fails at the caller (resource_exhausted, not
// executed: PROTOCOL.md 5) without reaching any endpoint: it says nothing
// of the endpoints, and must not take healthy ones out of rotation.
func TestVreview13CallersMistakesOpenNoBreaker(t *testing.T) {
	a, b := startNode(t, "a"), startNode(t, "b")
	c := newClient(t, resolver.Static(addrs(a, b)...), cluster.WithCircuitBreaker(2, time.Minute))
	waitReady(t, c, 2)
	ctx := t.Context()
	big := make([]byte, 5<<20) // over the default 4 MiB
	for i := range 4 {
		err := c.Call(ctx, "Svc.Who", big, nil)
		require.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "call %d: %v", i, err)
		assert.True(t, ferry.NotExecuted(err))
	}
	for _, n := range []*node{a, b} {
		e := endpointInfo(c, n.addr)
		assert.Equal(t, "ready", e.State, "%s", n.addr)
		assert.Equal(t, int64(0), e.Failures, "%s", n.addr)
	}
	var who string
	require.NoError(t, c.Call(ctx, "Svc.Who", nil, &who), "a healthy cluster still serves")
}

// TestVreview13ExpiredCallerOpensNoBreaker: a call whose context had
// already ended when it was made never leaves the caller; it says nothing
// of the endpoint either.
func TestVreview13ExpiredCallerOpensNoBreaker(t *testing.T) {
	a := startNode(t, "a")
	c := newClient(t, resolver.Static(a.addr), cluster.WithCircuitBreaker(2, time.Minute))
	waitReady(t, c, 1)
	expired, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	for i := range 4 {
		err := c.Call(expired, "Svc.Who", nil, nil)
		require.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(err), "call %d: %v", i, err)
	}
	e := endpointInfo(c, a.addr)
	assert.Equal(t, "ready", e.State)
	assert.Equal(t, int64(0), e.Failures)
	var who string
	require.NoError(t, c.Call(t.Context(), "Svc.Who", nil, &who), "a healthy cluster still serves")
}

// TestVreview13HedgedRepliesDecodeAsUnhedged: a hedged call decodes its
// reply by the same rules as any call (PROTOCOL.md 2.1: "Replies are
// decoded by the same conversion rules on the caller's side, but for one:
// a map none of whose keys names a field of the reply's struct is not
// refused"), with the same codes.
func TestVreview13HedgedRepliesDecodeAsUnhedged(t *testing.T) {
	a := startNodeWith(t, "a", func(*node) []server.Option { return nil }, func(n *node) {})
	require.NoError(t, server.Handle(a.srv, "V13.Map", func(ctx context.Context, _ *struct{}) (*map[string]int, error) {
		m := map[string]int{"x": 1}
		return &m, nil
	}))
	require.NoError(t, server.Handle(a.srv, "V13.Frac", func(ctx context.Context, _ *struct{}) (*float64, error) {
		f := 3.5
		return &f, nil
	}))
	require.NoError(t, server.Handle(a.srv, "V13.Bytes", func(ctx context.Context, _ *struct{}) (*string, error) {
		s := "abc"
		return &s, nil
	}))
	plain := newClient(t, resolver.Static(a.addr))
	hedged := newClient(t, resolver.Static(a.addr), cluster.WithHedging(time.Minute), cluster.WithIdempotent("V13.Map", "V13.Frac", "V13.Bytes"))
	waitReady(t, plain, 1)
	waitReady(t, hedged, 1)
	ctx := t.Context()
	for _, c := range []*cluster.Client{plain, hedged} {
		var st struct{ A int }
		assert.NoError(t, c.Call(ctx, "V13.Map", nil, &st), "a map with no field of the reply's struct")
		var n int
		err := c.Call(ctx, "V13.Frac", nil, &n)
		assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
		assert.False(t, ferry.NotExecuted(err))
		b := make([]byte, 0, 8)
		require.NoError(t, c.Call(ctx, "V13.Bytes", nil, &b))
		assert.Equal(t, "abc", string(b))
	}
	errPlain := plain.Call(ctx, "V13.Frac", nil, new(int))
	errHedged := hedged.Call(ctx, "V13.Frac", nil, new(int))
	assert.Equal(t, errPlain.Error(), errHedged.Error())
}

// TestVreview13HedgedCallersMistakesOpenNoBreaker: the same through a
// hedged idempotent call, and a Notify.
func TestVreview13HedgedCallersMistakesOpenNoBreaker(t *testing.T) {
	a, b := startNode(t, "a"), startNode(t, "b")
	c := newClient(t, resolver.Static(addrs(a, b)...), cluster.WithCircuitBreaker(2, time.Minute),
		cluster.WithHedging(time.Millisecond), cluster.WithIdempotent("Svc.Who"))
	waitReady(t, c, 2)
	ctx := t.Context()
	big := make([]byte, 5<<20)
	expired, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	for i := range 4 {
		err := c.Call(ctx, "Svc.Who", big, nil)
		assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "call %d: %v", i, err)
		err = c.Call(expired, "Svc.Who", nil, nil)
		assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(err), "call %d: %v", i, err)
		err = c.Notify(ctx, "Svc.Who", big)
		assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "notify %d: %v", i, err)
	}
	for _, n := range []*node{a, b} {
		e := endpointInfo(c, n.addr)
		assert.Equal(t, "ready", e.State, "%s", n.addr)
		assert.Equal(t, int64(0), e.Failures, "%s", n.addr)
	}
	var who string
	require.NoError(t, c.Call(ctx, "Svc.Who", nil, &who))
}
