package e2e_test

import (
	"bufio"
	"context"
	"math"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/examples/arith/arith"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit27NonArrayParams: PROTOCOL.md 2.1, params that are not an
// array are decoded as the args value itself (a map fills a struct, nil
// leaves the zero value), by the same rules as any argument: 5 reaches an
// integer argument, a bin a byte slice, and a struct refuses 5.
func TestVaudit27NonArrayParams(t *testing.T) {
	s := newServer(t)
	c := dialRaw(t, listen(t, s))
	r := c.call(enc([]any{0, 1, "Echo.Sleep", 5}))
	assert.Nil(t, r.err, "5 is Echo.Sleep's int64")
	assert.Equal(t, true, r.result)
	r = c.call(enc([]any{0, 2, "Echo.Sleep", "hi"}))
	assert.Equal(t, `Echo.Sleep: argument 1: want an integer, got "hi"`, r.err)
	r = c.call(enc([]any{0, 3, "Arith.Add", 5}))
	assert.Equal(t, "Arith.Add: want a map or an array, got 5", r.err)
	r = c.call(enc([]any{0, 4, "Echo.Echo", []byte("abc")}))
	assert.Nil(t, r.err)
	assert.Equal(t, []byte("abc"), r.result, "a bin reaches a codec.Raw whole")
}

// TestVaudit27PlainClientMessageLimits: client.WithPlainMsgpackRPC sends
// no hello, so neither side learns the other's MaxMessageSize: a reply
// past the client's own limit, and a request past the server's, end the
// connection (every call on it fails with CodeUnavailable), where over a
// session the reply is replaced by CodeResourceExhausted and the request
// is not sent. A request past the client's own limit is still refused
// before it is sent, not executed.
func TestVaudit27PlainClientMessageLimits(t *testing.T) {
	small := transport.DefaultConfig()
	small.MaxMessageSize = 1 << 10

	s := newServer(t)
	require.NoError(t, server.Handle(s, "Big.Get", func(_ context.Context, n *int) (*string, error) {
		r := strings.Repeat("x", *n)
		return &r, nil
	}))
	c := dialTCP(t, s, client.WithPlainMsgpackRPC(), client.WithConfig(small))
	var r string
	err := c.Call(t.Context(), "Echo.Echo", strings.Repeat("y", 2000), &r)
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err))
	err = c.Call(t.Context(), "Big.Get", 4000, &r)
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "a reply past the plain client's limit: %v", err)
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the connection did not end")
	}

	s = newServer(t, server.WithConfig(small))
	c = dialTCP(t, s, client.WithPlainMsgpackRPC())
	err = c.Call(t.Context(), "Echo.Echo", strings.Repeat("y", 2000), &r)
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "a request past the server's limit: %v", err)
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the connection did not end")
	}
}

// TestVaudit27PeerCallsABareClient: a server.Peer calls a client that
// speaks bare MessagePack-RPC with the spec's shapes only: a request of
// four elements and a notification of three, carrying none of the call's
// deadline or metadata (not even once the client has sent an ext map
// itself), and nothing when the call is canceled; the client's error, of
// any shape, arrives as CodeUnknown; a response for a call that is no
// longer waited for is dropped, the connection open; a stream is refused
// at once, not executed.
func TestVaudit27PeerCallsABareClient(t *testing.T) {
	peers := make(chan *server.Peer, 1)
	s := newServer(t, server.WithConnHooks(func(p *server.Peer) { peers <- p }, nil))
	c := dialRaw(t, listen(t, s))
	r := c.call(request(1, "Arith.Add", []any{1, 2}, map[string]any{}))
	require.EqualValues(t, 3, r.result)
	p := <-peers

	ctx, cancel := context.WithTimeout(ferry.WithOutgoingMetadata(t.Context(), ferry.Metadata{"k": "v"}), time.Minute)
	call := p.Go(ctx, "Cli.Do", []int{1, 2}, nil)
	assert.Equal(t, append([]byte{0x94, 0x00, 0x01}, enc([]any{"Cli.Do", []any{[]int{1, 2}}})[1:]...), c.readRaw(),
		"[0, 1, \"Cli.Do\", [[1, 2]]]: no ext")
	cancel()
	<-call.Done()
	assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(call.Err()))
	c.write(enc([]any{1, 1, nil, 5})) // too late: dropped
	require.NoError(t, p.Notify(t.Context(), "Cli.Note", 5))
	assert.Equal(t, enc([]any{2, "Cli.Note", []any{5}}), c.readRaw(), "no $ferry.cancel came before it")

	call = p.Go(t.Context(), "Cli.Do", 1, nil)
	msg := c.read()
	c.write(enc([]any{1, msg[1], []any{0, "Vim:E121"}, nil}))
	<-call.Done()
	assert.Equal(t, ferry.CodeUnknown, ferry.CodeOf(call.Err()))
	assert.Equal(t, `ferry: unknown: [0,"Vim:E121"]`, call.Err().Error())

	_, err := p.OpenStream(t.Context(), "Cli.Stream", ferry.BidiStreaming)
	assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err))
	assert.True(t, ferry.NotExecuted(err))
	r = c.call(request(2, "Arith.Add", []any{3, 4}))
	assert.EqualValues(t, 7, r.result, "the connection is still open")
}

// TestVaudit27MalformedExtMessages: PROTOCOL.md 3, an ext that is not a
// map, or whose keys are not str or whose known keys hold the wrong types,
// gets invalid_argument ("malformed extensions"): the message says what
// is wrong, once, without a second "ferry:" prefix inside it. A streaming
// call's opening request is refused with the same message.
func TestVaudit27MalformedExtMessages(t *testing.T) {
	var runs atomic.Int64
	addr := protoAuditServer(t, &runs)
	c := dialRaw(t, addr)
	ws := dialSession(t, addr)
	for i, tc := range []struct {
		ext any
		msg string
	}{
		{5, "malformed extensions: expected a map"},
		{map[int]any{1: 1}, "malformed extensions: a key that is not a str"},
		{map[string]any{"t": "soon"}, `malformed extensions: "t" is not an integer`},
		{map[string]any{"m": []any{"k"}}, "malformed extensions: metadata is not a map of strings"},
	} {
		r := c.call(enc([]any{0, i, "Arith.Add", []any{1, 2}, tc.ext}))
		assert.Equal(t, tc.msg, r.err, "%v", tc.ext)
		assert.EqualValues(t, ferry.CodeInvalidArgument, r.code(), "%v", tc.ext)
		st := ws.open()
		st.write(append([]byte{0xc1}, enc([]any{0, 0, "Audit.Sum", []any{}, tc.ext})...), closeSend)
		_, r = st.status()
		assert.Equal(t, tc.msg, r.err, "a stream's opening, %v", tc.ext)
		st.ended()
	}
}

// TestVaudit27ArithWrapsAround: package arith's doc, Add and Mul wrap
// around on int64 overflow, as Go's arithmetic does, and Div(MinInt64,
// -1) is MinInt64: a bare client's params reach them unchanged.
func TestVaudit27ArithWrapsAround(t *testing.T) {
	s := server.New()
	require.NoError(t, arith.Register(s))
	t.Cleanup(func() { s.Close() })
	c := dialRaw(t, listen(t, s))
	for i, tc := range []struct {
		method string
		a, b   int64
		want   int64
	}{
		{"Arith.Add", math.MaxInt64, 1, math.MinInt64},
		{"Arith.Mul", math.MaxInt64, 2, -2},
		{"Arith.Mul", 1 << 62, 4, 0},
		{"Arith.Div", math.MinInt64, -1, math.MinInt64},
	} {
		r := c.call(request(uint32(i), tc.method, []any{tc.a, tc.b}))
		assert.Nil(t, r.err, "%s %d %d", tc.method, tc.a, tc.b)
		assert.EqualValues(t, tc.want, r.result, "%s %d %d", tc.method, tc.a, tc.b)
	}
}

// TestVaudit27PlainClientPartialMessageStall: SECURITY.md, "A client
// applies the same limits to what the server it dialed sends (...
// partial-message stalls ...)", and transport.Config.PartialMessageTimeout
// bounds how long "a stream or bare connection may hold part of a
// message": a client speaking bare MessagePack-RPC whose server sends
// part of a reply and stops closes the connection after that bound, and
// the call fails with CodeUnavailable, as over a session.
func TestVaudit27PlainClientPartialMessageStall(t *testing.T) {
	c, srv := plainClientAndRawServer(t, 200*time.Millisecond)

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	call := c.Go(ctx, "Slow.Reply", 1, nil)
	msg := srv.read()
	id, ok := toUint(msg[1])
	require.True(t, ok)
	srv.write(append([]byte{0x94, 0x01, byte(id), 0xc0}, binHeader(1000)...), make([]byte, 10)) // 10 of 1,000 bytes
	start := time.Now()
	select {
	case <-call.Done():
	case <-ctx.Done():
	}
	took := time.Since(start)
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(call.Err()), "%v", call.Err())
	assert.Less(t, took, 3*time.Second, "the stall ended the connection, not the call's deadline")
	t.Logf("the call failed %v after the partial reply: %v", took, call.Err())
}

// plainClientAndRawServer dials a client speaking bare MessagePack-RPC,
// with stall as its PartialMessageTimeout, to a raw loopback listener, and
// returns the client and the server's end of the connection.
func plainClientAndRawServer(t *testing.T, stall time.Duration) (*client.Client, *rawConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	conns := make(chan net.Conn, 1)
	go func() {
		if nc, err := l.Accept(); err == nil {
			conns <- nc
		}
	}()
	cfg := transport.DefaultConfig()
	cfg.PartialMessageTimeout = stall
	c, err := client.Dial(t.Context(), l.Addr().String(), client.WithPlainMsgpackRPC(), client.WithConfig(cfg))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	nc := <-conns
	t.Cleanup(func() { nc.Close() })
	return c, &rawConn{t: t, conn: nc, r: bufio.NewReader(nc)}
}
