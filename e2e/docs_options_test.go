package e2e_test

import (
	"bytes"
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/examples/arith/arith"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// arithServer serves the example's services in this process, with opts:
// for the promises that need a non-default option.
func arithServer(t *testing.T, opts ...server.Option) string {
	t.Helper()
	s := server.New(opts...)
	require.NoError(t, arith.Register(s))
	t.Cleanup(func() { s.Close() })
	return listen(t, s)
}

// TestDocsConnLimitsPerIP checks PROTOCOL.md 7 and SECURITY.md: "When a
// new connection would pass either bound, one connection (from that IP,
// for the per-IP bound) is closed to make room: the oldest that has not
// yet sent a complete message [...] Only when every connection is busy is
// the newcomer refused." (The quiet ones that make room are
// TestConnLimitsCloseQuietConnections'.)
func TestDocsConnLimitsPerIP(t *testing.T) {
	// a keeps a call in progress: a quiet connection would make room
	// before a connection that is new (WithConnLimits).
	s := server.New(server.WithConnLimits(0, 3))
	require.NoError(t, arith.Register(s))
	release, started := holdCalls(t, s)
	t.Cleanup(func() { s.Close() })
	addr := listen(t, s)
	a := dialRaw(t, addr)
	require.EqualValues(t, 3, a.call(request(1, "Arith.Add", []any{1, 2})).result)
	a.write(request(2, "Hold.Hold", []any{nil}))
	<-started
	b := dialRaw(t, addr)
	b.write([]byte{0x00}) // a session that never says hello
	c := dialRaw(t, addr)
	req := request(1, "Arith.Add", []any{2, 2})
	c.write(req[:5]) // part of a message

	// b and c have sent no complete message; b is the older.
	d := dialRaw(t, addr)
	require.EqualValues(t, 5, d.call(request(1, "Arith.Add", []any{2, 3})).result)
	b.discardUntilClosed(5 * time.Second)
	c.write(req[5:])
	require.EqualValues(t, 4, parseResponse(t, c.read()).result, "the younger silent connection was kept")

	// a, c and d each have a call in progress: a newcomer is refused.
	for _, x := range []*rawConn{c, d} {
		x.write(request(2, "Hold.Hold", []any{nil}))
		<-started
	}
	e := dialRaw(t, addr)
	_ = e.writeMay(request(1, "Arith.Add", []any{1, 1}))
	e.closedWithin(5 * time.Second)
	close(release)
	for i, x := range []*rawConn{a, c, d} {
		assert.Equal(t, true, parseResponse(t, x.read()).result, "connection %d: its call in progress", i)
		assert.EqualValues(t, 2, x.call(request(9, "Arith.Add", []any{1, 1})).result, "connection %d is still served", i)
	}
}

// TestDocsUnauthenticatedConnection checks PROTOCOL.md 7 and SECURITY.md
// on a raw session to a server with authentication: until the hello
// succeeds, messages are bounded to 4 KiB, every request is refused with
// unauthenticated, "n": true, without decoding its params or running a
// handler, and streaming calls are refused.
func TestDocsUnauthenticatedConnection(t *testing.T) {
	const token = "a-token-of-16-bytes-at-least"
	var runs atomic.Int64
	addr := arithServer(t, server.WithAuth(func(ctx context.Context, info ferry.AuthInfo) (any, error) {
		runs.Add(1)
		if info.Token != token {
			return nil, ferry.NewError(ferry.CodeUnauthenticated, "invalid token")
		}
		return "ok", nil
	}))

	s := dialSessionNoHello(t, addr)
	// Echo.Echo with a str param that makes the message exactly n bytes.
	echo := func(id byte, n int) []byte {
		head := rawRequest([]byte{id}, str8("Echo.Echo"), []byte{0x91, 0xda, 0, 0})
		pad := n - len(head) - 1 // the ext map
		head[len(head)-2], head[len(head)-1] = byte(pad>>8), byte(pad)
		msg := append(append(head, bytes.Repeat([]byte{'p'}, pad)...), 0x80)
		msg[0] = 0x95
		return msg
	}
	for i, n := range []int{1 << 10, 4<<10 - 1, 4 << 10} {
		msg := echo(byte(i), n)
		require.Len(t, msg, n)
		r := parseResponse(t, s.call.read2(msg))
		assert.EqualValues(t, 16, r.code(), "%d bytes: unauthenticated (%v)", n, r.err)
		assert.Equal(t, true, r.ext["n"], "%d bytes", n)
	}
	// Params that do not even fit are refused the same way: never decoded.
	r := parseResponse(t, s.call.read2(request(7, "Arith.Add", []any{"not", "numbers"}, map[string]any{})))
	assert.EqualValues(t, 16, r.code())
	st := s.openCall("Echo.Chat")
	_, r = st.status()
	assert.EqualValues(t, 16, r.code(), "a streaming call is refused: %v", r.err)
	assert.Equal(t, true, r.ext["n"])
	assert.Zero(t, runs.Load(), "no hello, no check")

	// 4 KiB + 1 closes the call stream.
	s.call.write(echo(9, 4<<10+1))
	s.call.ended()

	// A new session that says hello with the token is served in full.
	s = dialSessionNoHello(t, addr)
	r = parseResponse(t, s.call.read2(request(1, "$ferry.hello", []any{map[string]any{"token": token}}, map[string]any{})))
	require.Nil(t, r.err)
	msg := echo(2, 64<<10)
	r = parseResponse(t, s.call.read2(msg))
	assert.Nil(t, r.err)
	got, _ := r.result.(string)
	assert.Equal(t, 64<<10-19, len(got), "the str param comes back whole")

	// "A later hello on an authenticated connection changes nothing."
	before := runs.Load()
	r = parseResponse(t, s.call.read2(request(3, "$ferry.hello", []any{map[string]any{"token": "wrong-wrong-wrong-wrong"}}, map[string]any{})))
	assert.Nil(t, r.err)
	assert.Equal(t, before, runs.Load(), "the check does not run again")
	r = parseResponse(t, s.call.read2(request(4, "Arith.Add", []any{1, 2}, map[string]any{})))
	assert.EqualValues(t, 3, r.result)

	// "The server judges a connection at most 3 times."
	s = dialSessionNoHello(t, addr)
	for i := range 3 {
		r = parseResponse(t, s.call.read2(request(uint32(1+i), "$ferry.hello", []any{map[string]any{"token": "wrong-wrong-wrong-wrong"}}, map[string]any{})))
		assert.EqualValues(t, 16, r.code(), "attempt %d", i+1)
	}
	r = parseResponse(t, s.call.read2(request(4, "$ferry.hello", []any{map[string]any{"token": token}}, map[string]any{})))
	assert.EqualValues(t, 16, r.code(), "the right token after 3 failures: %v", r.err)
	assert.Equal(t, true, r.ext["n"])
	assert.Equal(t, before+3, runs.Load())
}

// dialSessionNoHello opens a session and its call stream without saying
// hello.
func dialSessionNoHello(t *testing.T, addr string) *wireSession {
	t.Helper()
	s := dialSessionWith(t, addr, false)
	return s
}

// TestDocsDeadlineAndCancelOnTheWire checks PROTOCOL.md 3 and 4 from a raw
// session: the request ext's "t" is the handler's relative deadline, and
// the server answers deadline_exceeded when it passes; $ferry.cancel
// [msgid] cancels the handler's context, and no response is sent for the
// canceled request.
func TestDocsDeadlineAndCancelOnTheWire(t *testing.T) {
	b := newBlocker()
	s := server.New()
	require.NoError(t, server.Handle(s, "Block.Wait", b.handle))
	require.NoError(t, arith.Register(s))
	t.Cleanup(func() { s.Close() })
	ws := dialSession(t, listen(t, s))

	ws.call.write(request(2, "Block.Wait", []any{}, map[string]any{"t": int64(50 * time.Millisecond)}))
	<-b.started
	r := parseResponse(t, ws.call.read())
	assert.EqualValues(t, 2, r.msgid)
	assert.EqualValues(t, 4, r.code(), "deadline_exceeded: %v", r.err)
	assert.Equal(t, context.DeadlineExceeded, <-b.ended)

	ws.call.write(request(3, "Block.Wait", []any{}, map[string]any{}))
	<-b.started
	ws.call.write(notification("$ferry.cancel", []any{3}, map[string]any{}))
	assert.Equal(t, context.Canceled, <-b.ended)
	r = parseResponse(t, ws.call.read2(request(4, "Arith.Add", []any{1, 2}, map[string]any{})))
	assert.EqualValues(t, 4, r.msgid, "no response for the canceled request")
	assert.EqualValues(t, 3, r.result)
}

// TestDocsClientReadsAnyErrorShape checks PROTOCOL.md 2: "Ferry accepts any
// shape from others (str or bin as the message; arrays, maps and integers
// become the message as their JSON text ...), with code unknown", against
// a hand-written plain MessagePack-RPC server.
func TestDocsClientReadsAnyErrorShape(t *testing.T) {
	cases := []struct {
		err  []byte // the error element, encoded
		want string
	}{
		{enc("boom"), "boom"},
		{[]byte{0xc4, 0x04, 'b', 'o', 'o', 'm'}, "boom"},
		{enc([]any{0, "Vim:E121: Undefined variable: x"}), `[0,"Vim:E121: Undefined variable: x"]`},
		{enc(map[string]any{"code": 7}), `{"code":7}`},
		{enc(42), "42"},
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	served := make(chan error, 1)
	go func() {
		conn, err := l.Accept()
		if err != nil {
			served <- err
			return
		}
		defer conn.Close()
		dec := msgpack.NewDecoder(conn)
		for range cases {
			var req []any
			if err := dec.Decode(&req); err != nil {
				served <- err
				return
			}
			id, _ := toUint(req[1])
			params, _ := req[3].([]any)
			i, _ := toUint(params[0])
			resp := append([]byte{0x94, 0x01}, enc(id)...)
			resp = append(append(resp, cases[i].err...), 0xc0)
			if _, err := conn.Write(resp); err != nil {
				served <- err
				return
			}
		}
		served <- nil
	}()
	c, err := client.Dial(t.Context(), l.Addr().String(), client.WithPlainMsgpackRPC())
	require.NoError(t, err)
	defer c.Close()
	for i, tc := range cases {
		err := c.Call(t.Context(), "Any.Thing", i, nil)
		require.Error(t, err)
		assert.Equal(t, ferry.CodeUnknown, ferry.CodeOf(err), "%v", err)
		var fe *ferry.Error
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, tc.want, fe.Message, "% x", tc.err)
	}
	require.NoError(t, <-served)
}
