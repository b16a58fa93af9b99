package debug_test

// Audit of the package doc and go doc output: promises the other tests
// of this package do not check.

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/auth"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/debug"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAuditStreamDenialsCounted: the doc says the stream interceptor
// counts "the calls denied (permission_denied, from an authorization
// policy such as auth.Policy installed after it)", and auth.Policy's
// StreamInterceptor is to be installed "after debug.Stats' stream
// interceptor": a denied stream is in Snapshot.Denied, on the page, and
// in its method's codes.
func TestAuditStreamDenialsCounted(t *testing.T) {
	policy, err := auth.NewPolicy(auth.Rule{Identity: "*", Allow: []string{"Arith.*"}})
	require.NoError(t, err)
	st := debug.New()
	s := server.New(st.Option(), server.WithStreamInterceptors(policy.StreamInterceptor()))
	ran := make(chan struct{}, 1)
	require.NoError(t, s.HandleStream("Feed.Secret", server.ServerStream, func(ctx context.Context, _ *server.Stream) (any, error) {
		ran <- struct{}{}
		return nil, nil
	}))
	c, _ := ferrytest.ServeAndDial(t, s)
	for range 2 {
		ss, err := client.OpenServerStream[struct{}, int](t.Context(), c, "Feed.Secret", &struct{}{})
		if err == nil {
			_, err = ss.Recv()
			ss.Close()
		}
		require.Error(t, err)
		assert.Equal(t, ferry.CodePermissionDenied, ferry.CodeOf(err))
	}
	assert.Empty(t, ran, "no handler ran")
	snap := st.Snapshot(s)
	assert.Equal(t, uint64(2), snap.Denied, "denied streams are counted as calls denied")
	require.Len(t, snap.Streams, 1)
	assert.Equal(t, map[string]uint64{"permission_denied": 2}, snap.Streams[0].Codes)

	rec := httptest.NewRecorder()
	st.Handler(s).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/ferry", nil))
	assert.Contains(t, rec.Body.String(), "2 calls denied")
}

// TestAuditHandlerDenialCounted: Snapshot.Denied counts permission_denied
// "by an authorization policy ... or a handler".
func TestAuditHandlerDenialCounted(t *testing.T) {
	st := debug.New()
	s := server.New(st.Option())
	require.NoError(t, server.Handle(s, "Door.Open", func(context.Context, *struct{}) (*struct{}, error) {
		return nil, ferry.NewError(ferry.CodePermissionDenied, "locked")
	}))
	c, _ := ferrytest.ServeAndDial(t, s)
	err := c.Call(t.Context(), "Door.Open", struct{}{}, nil)
	require.Equal(t, ferry.CodePermissionDenied, ferry.CodeOf(err))
	snap := st.Snapshot(s)
	assert.Equal(t, uint64(1), snap.Denied)
	door := find(t, snap, "Door.Open")
	assert.Equal(t, uint64(1), door.Calls, "a handler's denial ran: it is a call")
	assert.Equal(t, map[string]uint64{"permission_denied": 1}, door.Codes)
}

// TestAuditConnStats: ConnStats of a bare MessagePack-RPC connection has
// Protocol "msgpack-rpc"; Running counts the handlers running for a
// connection and Calls/Errors the calls they finished, per connection.
func TestAuditConnStats(t *testing.T) {
	f := start(t)
	nc, err := net.Dial("tcp", f.addr)
	require.NoError(t, err)
	bare, err := client.New(nc, client.WithPlainMsgpackRPC())
	require.NoError(t, err)
	defer bare.Close()
	var r int64
	require.NoError(t, bare.Call(t.Context(), "Arith.Add", Args{A: 1, B: 2}, &r))
	require.Error(t, bare.Call(t.Context(), "Arith.Div", Args{A: 1}, &r))
	// A reply can reach the caller a moment before its handler's
	// bookkeeping ends: wait for the bare connection's handlers to finish.
	require.Eventually(t, func() bool {
		for _, cs := range f.st.Snapshot(f.srv).Conns {
			if cs.Protocol == "msgpack-rpc" {
				return cs.Running == 0 && cs.Calls == 2
			}
		}
		return false
	}, 5*time.Second, time.Millisecond)

	call := f.c.Go(t.Context(), "Gate.Wait", struct{}{}, nil)
	<-f.gate.entered
	snap := f.st.Snapshot(f.srv)
	close(f.gate.release)
	require.NoError(t, call.Wait())

	require.Len(t, snap.Conns, 2)
	byProto := map[string]debug.ConnStats{}
	for _, cs := range snap.Conns {
		byProto[cs.Protocol] = cs
		assert.False(t, cs.Since.IsZero())
		assert.WithinDuration(t, time.Now(), cs.Since, time.Minute)
	}
	b, ok := byProto["msgpack-rpc"]
	require.True(t, ok, "%+v", snap.Conns)
	assert.Equal(t, uint64(2), b.Calls)
	assert.Equal(t, uint64(1), b.Errors)
	assert.Equal(t, 0, b.Running)
	sess, ok := byProto["session"]
	require.True(t, ok, "%+v", snap.Conns)
	assert.Equal(t, 1, sess.Running, "Gate.Wait's handler runs for it")
	assert.Equal(t, 1, sess.CallStreams, "its call stream is open")
	assert.Equal(t, 0, sess.Streams, "no streaming call")
	assert.Equal(t, uint64(0), sess.Calls)
}

// TestAuditJSONNames: the JSON view uses the names go doc shows in the
// field tags, durations in nanoseconds.
func TestAuditJSONNames(t *testing.T) {
	f := start(t)
	f.traffic(t, 2)
	rec := httptest.NewRecorder()
	f.st.Handler(f.srv).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/ferry?format=json", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &m))
	for _, k := range []string{"uptime_ns", "methods", "rate", "latency", "conns", "denied"} {
		assert.Contains(t, m, k)
	}
	var methods []map[string]any
	require.NoError(t, json.Unmarshal(m["methods"], &methods))
	var add map[string]any
	for _, x := range methods {
		if x["name"] == "Arith.Add" {
			add = x
		}
	}
	require.NotNil(t, add)
	for _, k := range []string{"kind", "calls", "errors", "in_flight", "refused", "p50_ns", "p90_ns", "p99_ns", "max_ns", "since_read_p50_ns", "since_read_p99_ns"} {
		assert.Contains(t, add, k)
	}
	p99, ok := add["p99_ns"].(float64)
	require.True(t, ok)
	assert.Greater(t, p99, 100.0, "nanoseconds, not seconds or milliseconds")
	assert.Less(t, p99, float64(time.Minute))
	var uptime int64
	require.NoError(t, json.Unmarshal(m["uptime_ns"], &uptime))
	assert.Positive(t, uptime)
}

// TestAuditLoggerAttributes: a failed call logs code and err at WARN;
// the client logger has the same attributes less peer.
func TestAuditLoggerAttributes(t *testing.T) {
	var sbuf, cbuf bytes.Buffer
	h := func(b *bytes.Buffer) *slog.Logger {
		return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	f := start(t, server.WithInterceptors(debug.ServerLogger(h(&sbuf))))
	c, err := client.Dial(t.Context(), f.addr, client.WithInterceptors(debug.ClientLogger(h(&cbuf))))
	require.NoError(t, err)
	defer c.Close()
	var r int64
	require.NoError(t, c.Call(t.Context(), "Arith.Add", Args{A: 1, B: 2}, &r))
	require.Error(t, c.Call(t.Context(), "Arith.Div", Args{A: 1}, &r))
	require.NoError(t, c.Close())

	lines := func(b *bytes.Buffer) []map[string]any {
		var out []map[string]any
		for _, l := range bytes.Split(bytes.TrimSpace(b.Bytes()), []byte("\n")) {
			var m map[string]any
			require.NoError(t, json.Unmarshal(l, &m), "%s", l)
			out = append(out, m)
		}
		return out
	}
	srv := lines(&sbuf)
	require.Len(t, srv, 2)
	assert.Equal(t, "DEBUG", srv[0]["level"])
	assert.Equal(t, "Arith.Add", srv[0]["method"])
	assert.Contains(t, srv[0], "peer")
	assert.Contains(t, srv[0], "duration")
	assert.NotContains(t, srv[0], "code")
	assert.Equal(t, "WARN", srv[1]["level"])
	assert.Equal(t, "invalid_argument", srv[1]["code"])
	assert.Contains(t, srv[1], "err")
	assert.Contains(t, srv[1], "peer")

	cli := lines(&cbuf)
	require.Len(t, cli, 2)
	for _, m := range cli {
		assert.NotContains(t, m, "peer", "client lines have no peer")
		assert.Contains(t, m, "duration")
	}
	assert.Equal(t, "DEBUG", cli[0]["level"])
	assert.Equal(t, "WARN", cli[1]["level"])
	assert.Equal(t, "invalid_argument", cli[1]["code"])
	assert.Contains(t, cli[1], "err")
}

// TestAuditCallsMadeThroughAPeer: ClientInterceptor installed with
// server.WithClientInterceptors records the calls a server makes to its
// clients through a Peer, apart from the calls it serves.
func TestAuditCallsMadeThroughAPeer(t *testing.T) {
	st := debug.New()
	s := server.New(st.Option(), server.WithClientInterceptors(st.ClientInterceptor()))
	require.NoError(t, server.Handle(s, "Svc.Ask", func(ctx context.Context, q *string) (*string, error) {
		var a string
		err := server.PeerFromContext(ctx).Call(ctx, "Client.Ping", *q, &a)
		return &a, err
	}))
	addr := ferrytest.Serve(t, s)
	c, err := client.Dial(t.Context(), addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, client.Handle(c, "Client.Ping", func(_ context.Context, q *string) (*string, error) {
		if *q == "fail" {
			return nil, ferry.NewError(ferry.CodeAborted, "no")
		}
		r := "pong " + *q
		return &r, nil
	}))
	var a string
	require.NoError(t, c.Call(t.Context(), "Svc.Ask", "hi", &a))
	assert.Equal(t, "pong hi", a)
	require.Error(t, c.Call(t.Context(), "Svc.Ask", "fail", &a))

	snap := st.Snapshot(s)
	require.Len(t, snap.Client, 1)
	ping := snap.Client[0]
	assert.Equal(t, "Client.Ping", ping.Name)
	assert.Equal(t, uint64(2), ping.Calls)
	assert.Equal(t, uint64(1), ping.Errors)
	assert.Equal(t, map[string]uint64{"aborted": 1}, ping.Codes)
	assert.Positive(t, ping.Max, "round-trip time")
	ask := find(t, snap, "Svc.Ask")
	assert.Equal(t, uint64(2), ask.Calls)
	for _, m := range snap.Methods {
		assert.NotEqual(t, "Client.Ping", m.Name, "calls made are not calls served")
	}
}

// TestAuditUnknownNamesNotKept: calls to method names that are not
// registered are counted in the one Unregistered row; the names from the
// network appear nowhere, on the page or in the JSON.
func TestAuditUnknownNamesNotKept(t *testing.T) {
	f := start(t)
	for i := range 20 {
		err := f.c.Call(t.Context(), "Probe"+string(rune('A'+i))+".Secret", struct{}{}, nil)
		require.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err))
	}
	snap := f.st.Snapshot(f.srv)
	un := find(t, snap, debug.Unregistered)
	assert.Equal(t, uint64(20), un.Refused)
	for _, q := range []string{"", "?format=json"} {
		rec := httptest.NewRecorder()
		f.st.Handler(f.srv).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/ferry"+q, nil))
		assert.NotContains(t, rec.Body.String(), "Probe", q)
		assert.NotContains(t, rec.Body.String(), ".Secret", q)
	}
}

// TestAuditRateAndLatencyOrder: Rate's last point is the current second;
// Latency's buckets go from the fastest to the slowest, each [Lo, Hi)
// after the previous, and hold every call that ran.
func TestAuditRateAndLatencyOrder(t *testing.T) {
	f := start(t)
	f.traffic(t, 5)
	now := time.Now()
	snap := f.st.Snapshot(f.srv)
	after := time.Now()
	require.Len(t, snap.Rate, 60)
	last := snap.Rate[len(snap.Rate)-1]
	assert.False(t, last.Time.After(after), "the current second: %v", last.Time)
	assert.True(t, now.Before(last.Time.Add(time.Second)) || after.Before(last.Time.Add(time.Second)), "the current second: %v", last.Time)
	require.Len(t, snap.Latency, 20)
	var n uint64
	for i, b := range snap.Latency {
		n += b.Count
		assert.LessOrEqual(t, b.Lo, b.Hi, "bucket %d", i)
		if i > 0 {
			assert.LessOrEqual(t, snap.Latency[i-1].Hi, b.Lo, "bucket %d after %d", i, i-1)
		}
	}
	assert.Equal(t, uint64(6), n, "the 6 calls that ran")
}
