package client_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/ferryrpc/ferry/client"
)

// TestAuditParamsOnTheWire checks Params: "Call, Go and Notify send any
// other args value v as the one-element MessagePack-RPC params [v] (nil as
// []); they send Params{a, b, c} as [a, b, c]", reading what a plain
// client writes to a bare TCP peer.
func TestAuditParamsOnTheWire(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, err := l.Accept()
		if err == nil {
			accepted <- nc
		}
	}()
	c, err := client.Dial(t.Context(), l.Addr().String(), client.WithPlainMsgpackRPC())
	require.NoError(t, err)
	defer c.Close()
	var nc net.Conn
	select {
	case nc = <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("no connection")
	}
	defer nc.Close()
	require.NoError(t, nc.SetReadDeadline(time.Now().Add(10*time.Second)))
	dec := msgpack.NewDecoder(nc)

	for _, tc := range []struct {
		name   string
		args   any
		params []any
	}{
		{"nil", nil, []any{}},
		{"a value", 5, []any{int8(5)}},
		{"a slice is one value", []int{1, 2}, []any{[]any{int8(1), int8(2)}}},
		{"Params", client.Params{1, "a", nil}, []any{int8(1), "a", nil}},
		{"empty Params", client.Params{}, []any{}},
	} {
		require.NoError(t, c.Notify(t.Context(), "M", tc.args), tc.name)
		var msg []any
		require.NoError(t, dec.Decode(&msg), tc.name)
		require.Len(t, msg, 3, tc.name)
		assert.EqualValues(t, 2, msg[0], "a notification")
		assert.Equal(t, tc.params, msg[2], tc.name)

		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		call := c.Go(ctx, "M", tc.args, nil)
		msg = nil
		require.NoError(t, dec.Decode(&msg), tc.name)
		require.Len(t, msg, 4, tc.name)
		assert.EqualValues(t, 0, msg[0], "a request")
		assert.Equal(t, "M", msg[2])
		assert.Equal(t, tc.params, msg[3], tc.name)
		<-call.Done()
		cancel()
	}
}
