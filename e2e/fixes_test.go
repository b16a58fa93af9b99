package e2e_test

// Tests of fixed bugs (CHANGELOG.md, Fixed).

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serveFix serves s on loopback TCP until the test ends and returns the
// address and a channel that receives Serve's return.
func serveFix(t *testing.T, s *server.Server) (string, chan error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() { s.Close(); l.Close(); <-done })
	return l.Addr().String(), done
}

// TestFixShutdownSkipsPartialRequest: session streams holding part of a
// request do not hold a graceful shutdown (one whose opening request was
// partial, or had not started, held it for SniffTimeout): once the client
// has seen the go-away, a streaming call whose opening request has not
// arrived whole is refused as not executed, and a call stream holding half
// a request is counted out by $ferry.drained. A handler running on
// another connection is still waited for.
func TestFixShutdownSkipsPartialRequest(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.PartialMessageTimeout = time.Minute
	cfg.SniffTimeout = time.Minute
	s := newServer(t, server.WithConfig(cfg))
	b := newBlocker()
	release := make(chan struct{})
	var once sync.Once
	require.NoError(t, server.Handle(s, "Gate.Wait", func(ctx context.Context, _ *struct{}) (*bool, error) {
		b.started <- struct{}{}
		<-release
		ok := true
		return &ok, nil
	}))
	addr, _ := serveFix(t, s)
	t.Cleanup(func() { once.Do(func() { close(release) }) }) // before serveFix's

	ws := dialSession(t, addr)
	half := request(2, "Echo.Echo", []any{"a long enough argument"}, map[string]any{})
	ws.call.write(half[:len(half)/2])
	open := append([]byte{0xc1}, request(0, "Echo.Chat", []any{}, map[string]any{})...)
	halfOpen := ws.open()
	halfOpen.write(open[:len(open)/2])
	unopened := ws.open()
	unopened.write([]byte{})
	// Answered after the server's session took the streams' opening
	// frames (not reset for arriving after the go-away).
	_, err := ws.sess.Ping()
	require.NoError(t, err)

	c, err := client.Dial(t.Context(), addr)
	require.NoError(t, err)
	defer c.Close()
	call := c.Go(t.Context(), "Gate.Wait", struct{}{}, nil)
	<-b.started

	start := time.Now()
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	msg := ws.call.read()
	require.GreaterOrEqual(t, len(msg), 2, "%v", msg)
	assert.Equal(t, "$ferry.goaway", msg[1])
	// Refused, not executed, without the rest of their opening requests.
	for _, st := range []*wireStream{halfOpen, unopened} {
		_, r := st.status()
		assert.EqualValues(t, 14, r.code(), "unavailable: %v", r.err)
		assert.Equal(t, true, r.ext["n"], "not executed")
	}
	assert.Less(t, time.Since(start), 5*time.Second, "well below SniffTimeout")
	assert.Never(t, func() bool { return len(shut) > 0 }, 200*time.Millisecond, 5*time.Millisecond,
		"Shutdown returned while a handler ran")
	once.Do(func() { close(release) })
	require.NoError(t, call.Wait())
	// The count follows, the partial request not waited for.
	msg = ws.call.read()
	require.Len(t, msg, 3, "%v", msg)
	assert.Equal(t, "$ferry.drained", msg[1])
	assert.Equal(t, []any{int8(1)}, msg[2], "the hello was read; the half request was not")
	select {
	case err := <-shut:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	assert.Less(t, time.Since(start), 5*time.Second, "well below PartialMessageTimeout and SniffTimeout")
}

// TestFixServerBudgetFitsOneLargestMessage: the server-wide memory budget
// is raised, as each connection's is (transport.Config.ConnBudget), to fit
// one message of the largest size: a 600 KiB call under a 1 MiB
// server-wide budget is served, from a Ferry client and from a plain
// MessagePack-RPC socket (it ended the connection).
func TestFixServerBudgetFitsOneLargestMessage(t *testing.T) {
	big := bytes.Repeat([]byte{'x'}, 600<<10)
	t.Run("client", func(t *testing.T) {
		s := newServer(t, server.WithMemoryBudget(1<<20))
		addr, _ := serveFix(t, s)
		c, err := client.Dial(t.Context(), addr)
		require.NoError(t, err)
		defer c.Close()
		for range 2 { // what the first held was given back
			var got []byte
			require.NoError(t, c.Call(t.Context(), "Echo.Echo", big, &got))
			assert.Equal(t, big, got)
		}
	})
	t.Run("raw", func(t *testing.T) {
		s := newServer(t, server.WithMemoryBudget(1<<20))
		addr, _ := serveFix(t, s)
		raw := dialRaw(t, addr)
		for i := range 2 {
			r := raw.call(request(uint32(i+1), "Echo.Echo", []any{big}))
			require.Nil(t, r.err)
			assert.Equal(t, big, r.result)
		}
	})
}

// TestFixControlNotificationsAsRequests: every reserved method but
// $ferry.hello is a notification; sent as a request, each gets
// unimplemented, not executed, naming it a control notification
// (PROTOCOL.md 4). $ferry.cancelstream and $ferry.settled got success.
func TestFixControlNotificationsAsRequests(t *testing.T) {
	s := newServer(t)
	addr, _ := serveFix(t, s)
	ws := dialSession(t, addr)
	for i, req := range []struct {
		method string
		params []any
	}{
		{"$ferry.cancel", []any{1}},
		{"$ferry.cancelstream", []any{3}},
		{"$ferry.goaway", []any{}},
		{"$ferry.settled", []any{}},
		{"$ferry.drained", []any{0}},
	} {
		r := parseResponse(t, ws.call.read2(request(uint32(10+i), req.method, req.params, map[string]any{})))
		assert.EqualValues(t, 10+i, r.msgid)
		assert.EqualValues(t, 12, r.code(), "%s: unimplemented: %v", req.method, r.err)
		assert.Equal(t, true, r.ext["n"], "%s: not executed", req.method)
		assert.Contains(t, r.err, req.method+" is a control notification", req.method)
	}
	// None acted: the stream still serves calls.
	r := parseResponse(t, ws.call.read2(request(20, "Echo.Echo", []any{"x"}, map[string]any{})))
	require.Nil(t, r.err)
	assert.Equal(t, "x", r.result)
}

// TestFixHelloAsNotificationIgnored: $ferry.hello is a request only
// (PROTOCOL.md 4): sent as a notification with a valid token it does not
// authenticate the connection; the hello sent as a request does.
func TestFixHelloAsNotificationIgnored(t *testing.T) {
	s := newServer(t, server.WithAuth(func(_ context.Context, info ferry.AuthInfo) (any, error) {
		if info.Token != "good" {
			return nil, ferry.NewError(ferry.CodeUnauthenticated, "bad token")
		}
		return "user", nil
	}))
	addr, _ := serveFix(t, s)
	ws := dialSessionNoHello(t, addr)
	ws.call.write(notification("$ferry.hello", []any{map[string]any{"token": "good", "settle": true}}))
	r := parseResponse(t, ws.call.read2(request(2, "Echo.Echo", []any{"x"}, map[string]any{})))
	assert.EqualValues(t, 2, r.msgid)
	assert.EqualValues(t, 16, r.code(), "unauthenticated: %v", r.err)
	assert.Equal(t, true, r.ext["n"], "not executed")

	r = parseResponse(t, ws.call.read2(request(3, "$ferry.hello", []any{map[string]any{"token": "good"}}, map[string]any{})))
	require.Nil(t, r.err)
	r = parseResponse(t, ws.call.read2(request(4, "Echo.Echo", []any{"x"}, map[string]any{})))
	require.Nil(t, r.err)
	assert.Equal(t, "x", r.result)
}

// TestFixStreamSetupWithinSniffTimeout checks PROTOCOL.md 7 and
// transport.Config.SniffTimeout: a stream a client opens must send its
// first byte, and a streaming call its whole opening request, within
// SniffTimeout of its accept, or it is closed; an opening request that
// trickles in does not hold the stream open.
func TestFixStreamSetupWithinSniffTimeout(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.SniffTimeout = 300 * time.Millisecond
	s := newServer(t, server.WithConfig(cfg))
	addr, _ := serveFix(t, s)
	ws := dialSession(t, addr)
	silent := ws.open()
	silent.write([]byte{}) // opened: the frame that opens it carries no byte
	trickled := ws.open()
	opening := append([]byte{0xc1}, request(0, "Echo.Echo", []any{strings.Repeat("x", 200)}, map[string]any{})...)
	start := time.Now()
	stop := make(chan struct{})
	sent := make(chan int, 1)
	go func() {
		// One byte every 20 ms: the whole request would take about 4 s.
		n := 0
		defer func() { sent <- n }()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for _, b := range opening[:len(opening)-1] {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := trickled.st.Write([]byte{b}); err != nil {
				return
			}
			n++
		}
	}()
	for name, st := range map[string]*wireStream{"silent": silent, "trickled": trickled} {
		require.NoError(t, st.st.SetReadDeadline(time.Now().Add(10*time.Second)))
		_, _ = io.Copy(io.Discard, st.r) // until the server closes or resets it
		took := time.Since(start)
		assert.Less(t, took, 3*time.Second, "%s: closed within the set-up bound", name)
		t.Logf("%s: closed after %v", name, took.Round(time.Millisecond))
	}
	close(stop)
	n := <-sent
	assert.Less(t, n, len(opening)-1, "the trickle did not hold the stream open until its end")
	// The session goes on.
	r := parseResponse(t, ws.call.read2(request(2, "Echo.Echo", []any{"x"}, map[string]any{})))
	require.Nil(t, r.err)
	assert.Equal(t, "x", r.result)
}
