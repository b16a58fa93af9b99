package e2e_test

// Promises of the debug and introspect package docs.

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/debug"
	"github.com/ferryrpc/ferry/internal/testsvc"
	"github.com/ferryrpc/ferry/introspect"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPkgDocsDebugPage checks debug's docs: "refresh=N (1 to 3600)
// reloads the page every N seconds" (and nothing outside that range);
// Snapshot lists every method registered on s with zero calls if it has
// none; Rate covers the last 60 seconds, oldest first; Latency has 20
// buckets; a call to a method that is not registered is counted, by code,
// in the Unregistered row, whose Kind is empty; ConnStats.Protocol is
// "session" for a Ferry client.
func TestPkgDocsDebugPage(t *testing.T) {
	st := debug.New()
	s := newServer(t, st.Option())
	require.NoError(t, server.Handle(s, "Idle.Never", func(ctx context.Context, _ *struct{}) (*struct{}, error) { return nil, nil }))
	c := dialTCP(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	require.NoError(t, c.Call(ctx, "Arith.Add", testsvc.Args{A: 1, B: 1}, nil))
	err := c.Call(ctx, "No.Such", nil, nil)
	require.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err))

	page := func(q string) string {
		rec := httptest.NewRecorder()
		st.Handler(s).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/ferry"+q, nil))
		require.Equal(t, http.StatusOK, rec.Code)
		return rec.Body.String()
	}
	assert.Contains(t, page("?refresh=1"), `<meta http-equiv="refresh" content="1">`)
	assert.Contains(t, page("?refresh=3600"), `<meta http-equiv="refresh" content="3600">`)
	for _, q := range []string{"", "?refresh=0", "?refresh=3601", "?refresh=-5", "?refresh=x"} {
		assert.NotContains(t, page(q), `http-equiv="refresh"`, q)
	}

	snap := st.Snapshot(s)
	byName := map[string]debug.MethodStats{}
	for _, m := range snap.Methods {
		byName[m.Name] = m
	}
	idle, ok := byName["Idle.Never"]
	require.True(t, ok, "an idle registered method is listed")
	assert.Equal(t, uint64(0), idle.Calls)
	assert.Equal(t, "unary", idle.Kind)
	assert.Equal(t, uint64(1), byName["Arith.Add"].Calls)
	un, ok := byName[debug.Unregistered]
	require.True(t, ok, "the Unregistered row")
	assert.Equal(t, "", un.Kind)
	assert.Equal(t, uint64(1), un.Refused)
	assert.Equal(t, uint64(1), un.RefusedCodes["unimplemented"])
	assert.Equal(t, uint64(0), un.Calls, "refused calls are not in Calls")

	require.Len(t, snap.Rate, 60)
	for i := 1; i < len(snap.Rate); i++ {
		assert.Equal(t, time.Second, snap.Rate[i].Time.Sub(snap.Rate[i-1].Time), "oldest first, a second apart")
	}
	assert.Len(t, snap.Latency, 20)
	require.Len(t, snap.Conns, 1)
	assert.Equal(t, "session", snap.Conns[0].Protocol)
}

// TestPkgDocsIntrospectList checks introspect's docs: services and methods
// sorted by name, Kind "unary" or the stream's kind, a service named by
// what comes before the last dot, and Describe's ferry.CodeNotFound for an
// unknown method.
func TestPkgDocsIntrospectList(t *testing.T) {
	s := server.New()
	noop := func(ctx context.Context, _ *struct{}) (*struct{}, error) { return nil, nil }
	require.NoError(t, server.Handle(s, "Zed.B", noop))
	require.NoError(t, server.Handle(s, "Zed.A", noop))
	require.NoError(t, server.Handle(s, "a.b.C", noop))
	require.NoError(t, s.HandleStream("Alpha.Feed", ferry.ServerStreaming, func(ctx context.Context, st *server.Stream) (any, error) { return nil, nil }))
	require.NoError(t, introspect.Register(s))

	got := introspect.List(s)
	want := introspect.ListReply{Services: []introspect.Service{
		{Name: "Alpha", Methods: []introspect.Method{{Name: "Alpha.Feed", Kind: "server"}}},
		{Name: "Introspect", Methods: []introspect.Method{{Name: "Introspect.Describe", Kind: "unary"}, {Name: "Introspect.List", Kind: "unary"}}},
		{Name: "Zed", Methods: []introspect.Method{{Name: "Zed.A", Kind: "unary"}, {Name: "Zed.B", Kind: "unary"}}},
		{Name: "a.b", Methods: []introspect.Method{{Name: "a.b.C", Kind: "unary"}}},
	}}
	assert.Equal(t, want, got)

	_, err := introspect.Describe(s, "Zed.Nope")
	assert.Equal(t, ferry.CodeNotFound, ferry.CodeOf(err))
	d, err := introspect.Describe(s, "Alpha.Feed")
	require.NoError(t, err)
	assert.Equal(t, "server", d.Kind)
	assert.Nil(t, d.Args, "absent for methods registered without types")
}
