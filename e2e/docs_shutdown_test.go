package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDocsGracefulShutdown checks PROTOCOL.md's "Going away" against the
// example server stopped with SIGTERM while a bidi stream's handler runs:
// a session peer gets $ferry.goaway, its later requests are refused
// unavailable and not executed, the running handler keeps going, and after
// it ends the peer gets $ferry.drained with the count of requests the server
// read; a bare peer's requests get "the server is shutting down" and its
// connection ends after its last reply; the Ferry client's new calls fail
// not executed; the process exits 0.
func TestDocsGracefulShutdown(t *testing.T) {
	srv := startArith(t, buildArithServer(t))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	ws := dialSession(t, srv.addr) // request 1 on its call stream: the hello
	r := parseResponse(t, ws.call.read2(request(2, "Arith.Add", []any{1, 2}, map[string]any{})))
	require.EqualValues(t, 3, r.result)
	chat := ws.openCall("Echo.Chat")
	chat.write(frame("a"))
	require.Equal(t, []any{int8(3), "a"}, chat.read(), "the handler runs")

	bare := dialRaw(t, srv.addr)
	r = bare.call(request(1, "Arith.Add", []any{1, 2}))
	require.EqualValues(t, 3, r.result)

	fc, err := client.Dial(ctx, srv.addr)
	require.NoError(t, err)
	defer fc.Close()
	require.NoError(t, fc.Call(ctx, "Arith.Add", map[string]int{"A": 1}, nil))

	require.NoError(t, srv.cmd.Process.Signal(sigterm))

	// 1. $ferry.goaway on the call stream.
	msg := ws.call.read()
	require.GreaterOrEqual(t, len(msg), 3, "%v", msg)
	assert.EqualValues(t, 2, msg[0], "a notification: %v", msg)
	assert.Equal(t, "$ferry.goaway", msg[1])
	// Then each request read is refused at once: unavailable, not executed.
	r = parseResponse(t, ws.call.read2(request(3, "Arith.Add", []any{1, 2}, map[string]any{})))
	assert.EqualValues(t, 14, r.code(), "%v", r.err)
	assert.Equal(t, true, r.ext["n"])

	// The bare peer gets no go-away; its requests are answered with the
	// error string once its connection drains.
	refused := false
	for i := range 200 {
		r = bare.call(request(uint32(10+i), "Arith.Add", []any{1, 2}))
		if r.err != nil {
			assert.Equal(t, "the server is shutting down", r.err)
			assert.Equal(t, 4, r.n)
			refused = true
			break
		}
	}
	assert.True(t, refused, "a bare request was refused during the drain")

	// The Ferry client's new calls fail at once, not executed.
	err = fc.Call(ctx, "Arith.Add", map[string]int{"A": 1}, nil)
	require.Error(t, err)
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err), "%v", err)

	// The running handler is not interrupted.
	chat.write(frame("b"))
	assert.Equal(t, []any{int8(3), "b"}, chat.read())
	chat.writeLast(closeSend) // the server may close the session at once
	msgs, r := chat.status()
	assert.Empty(t, msgs)
	assert.Nil(t, r.err)
	// A streaming call counts as running until its caller, too, has closed
	// the stream (for at most StreamCloseTimeout).
	chat.ended()

	// 3. $ferry.drained [n]: n counts every request read, the hello included.
	msg = ws.call.read()
	require.GreaterOrEqual(t, len(msg), 3, "%v", msg)
	assert.Equal(t, "$ferry.drained", msg[1], "%v", msg)
	assert.Equal(t, []any{int8(3)}, msg[2])
	ws.call.ended()

	// The bare connection ends after its last reply.
	bare.closedWithin(10 * time.Second)
	select {
	case <-fc.Done():
	case <-ctx.Done():
		t.Fatal("the Ferry client's connection did not end")
	}
	require.NoError(t, srv.wait(t, 15*time.Second), "exit status; stderr: %s", srv.stderr)
	assert.Contains(t, srv.stderr.String(), "stopped")
}
