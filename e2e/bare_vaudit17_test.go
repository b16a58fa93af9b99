package e2e_test

import (
	"bufio"
	"context"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// TestVaudit17BareHalfCloseStillAnswered: PROTOCOL.md 2, a peer that
// half-closes after its last request still gets every answer, a running
// handler's included, and then the end of the connection; a half-close
// in the middle of a message gets none.
func TestVaudit17BareHalfCloseStillAnswered(t *testing.T) {
	s := newServer(t)
	addr := listen(t, s)
	c := dialRaw(t, addr)
	// Timed from before the write: the handler starts its 300 ms as soon
	// as the request arrives, which may be before write returns here
	// (299.5 ms measured from after it, once under load).
	start := time.Now()
	c.write(request(1, "Echo.Sleep", []any{300}), request(2, "Arith.Add", []any{1, 2}), notification("Arith.Add", []any{3, 4}))
	require.NoError(t, c.conn.(*net.TCPConn).CloseWrite())
	got := map[uint64]any{}
	for range 2 {
		r := parseResponse(t, c.read())
		assert.Nil(t, r.err, "%d", r.msgid)
		got[r.msgid] = r.result
	}
	assert.Equal(t, map[uint64]any{1: true, 2: int8(3)}, got)
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "the running handler was waited for")
	took, n := c.discardUntilClosed(5 * time.Second)
	assert.Zero(t, n)
	t.Logf("closed %v after the last answer", took)

	c = dialRaw(t, addr)
	req := request(3, "Arith.Add", []any{1, 2})
	c.write(req[:len(req)-1])
	require.NoError(t, c.conn.(*net.TCPConn).CloseWrite())
	c.closedWithin(5 * time.Second)
}

// TestVaudit17PlainClientSendsNoExtensions: client.WithPlainMsgpackRPC
// speaks "with no session and no Ferry extensions": whatever the caller's
// context carries (a deadline, metadata, a cancel), every request it
// writes has the spec's four elements and every notification three, and
// it sends no reserved method, not even when a call is canceled or the
// client closes.
func TestVaudit17PlainClientSendsNoExtensions(t *testing.T) {
	cc, sc := net.Pipe()
	got := make(chan []any, 64)
	go func() {
		defer close(got)
		r := bufio.NewReader(sc)
		for range 64 {
			var msg []any
			if err := msgpack.NewDecoder(r).Decode(&msg); err != nil {
				return
			}
			got <- msg
			if len(msg) >= 2 && msg[0] == int8(0) {
				if fmtV(msg[2]) == "Slow" {
					continue // never answered
				}
				b, _ := msgpack.Marshal([]any{1, msg[1], nil, 7})
				if _, err := sc.Write(b); err != nil {
					return
				}
			}
		}
	}()
	c, err := client.New(cc, client.WithPlainMsgpackRPC())
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(ferry.WithOutgoingMetadata(t.Context(), ferry.Metadata{"k": "v"}), 5*time.Second)
	defer cancel()
	var n int
	require.NoError(t, c.Call(ctx, "Add", client.Params{3, 4}, &n))
	assert.Equal(t, 7, n)
	require.NoError(t, c.Notify(ctx, "Note", "x"))
	slow, stop := context.WithCancel(ctx)
	call := c.Go(slow, "Slow", nil, new(int))
	stop()
	<-call.Done()
	assert.ErrorIs(t, call.Err(), context.Canceled)
	require.NoError(t, c.Call(ctx, "Add", nil, &n))
	require.NoError(t, c.Close())
	sc.Close()
	var methods []string
	for msg := range got {
		switch msg[0] {
		case int8(0):
			assert.Len(t, msg, 4, "a request: %v", msg)
			methods = append(methods, fmtV(msg[2]))
		case int8(2):
			assert.Len(t, msg, 3, "a notification: %v", msg)
			methods = append(methods, fmtV(msg[1]))
		default:
			t.Errorf("the client sent %v", msg)
		}
	}
	assert.Equal(t, []string{"Add", "Note", "Slow", "Add"}, methods)
}
