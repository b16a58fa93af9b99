package e2e_test

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// argCase is one Arith.Add call: the Go client's args value, or, over raw
// MessagePack-RPC, the params array; and the sum or the refusal expected.
type argCase struct {
	name   string
	args   any   // Go client: the single args value
	params []any // raw MessagePack-RPC: the params array
	sum    int64
	err    string // the message of a CodeInvalidArgument refusal
}

var argCases = []argCase{
	{name: "fraction", args: codec.Raw(mustMarshal([]any{3.5, 4})), params: []any{3.5, 4},
		err: "Arith.Add: argument 1 (A): want an integer, got 3.5"},
	{name: "extra positional", args: codec.Raw(mustMarshal([]any{3, 4, 5})), params: []any{3, 4, 5},
		err: "Arith.Add: takes at most 2 arguments (A, B), got 3"},
	{name: "no key matches", args: codec.Raw(mustMarshal(map[string]any{"a": 3, "b": 4})), params: []any{map[string]any{"a": 3, "b": 4}},
		err: `Arith.Add: no field named "a", "b" (fields: A, B)`},
	{name: "field fraction", args: struct{ A, B float64 }{3, 4.25}, params: []any{map[string]any{"A": 3, "B": 4.25}},
		err: "Arith.Add: field B: want an integer, got 4.25"},
	{name: "string for a number", args: codec.Raw(mustMarshal([]any{"3", 4})), params: []any{"3", 4},
		err: `Arith.Add: argument 1 (A): want an integer, got "3"`},
	{name: "out of range", args: codec.Raw(mustMarshal([]any{uint64(1 << 63), 0})), params: []any{uint64(1 << 63), 0},
		err: "Arith.Add: argument 1 (A): want an integer from -9223372036854775808 to 9223372036854775807 (int64), got 9223372036854775808"},
	{name: "fewer positional", args: 3, params: []any{3}, sum: 3},
	{name: "integral float", args: codec.Raw(mustMarshal([]any{4.0, 1})), params: []any{4.0, 1}, sum: 5},
	{name: "exact", args: codec.Raw(mustMarshal([]any{int8(-2), uint64(9)})), params: []any{int8(-2), uint64(9)}, sum: 7},
	{name: "unknown key skipped", args: map[string]int{"A": 1, "C": 2}, params: []any{map[string]int{"A": 1, "C": 2}}, sum: 1},
}

// mustMarshal encodes v with map keys sorted, so that messages listing
// them are stable.
func mustMarshal(v any) []byte {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// TestArgumentsGoClient: over every conduit, the Go client's arguments are
// taken or refused with CodeInvalidArgument and a message naming the
// argument; the connection stays usable.
func TestArgumentsGoClient(t *testing.T) {
	eachConduit(t, func(t *testing.T, tr conduit) {
		c := tr.dial(t, newServer(t))
		for _, ac := range argCases {
			t.Run(ac.name, func(t *testing.T) {
				var sum int64
				err := c.Call(t.Context(), "Arith.Add", ac.args, &sum)
				if ac.err == "" {
					require.NoError(t, err)
					assert.Equal(t, ac.sum, sum)
					return
				}
				var fe *ferry.Error
				require.ErrorAs(t, err, &fe)
				assert.Equal(t, ac.err, fe.Message)
				if !tr.plain {
					assert.Equal(t, ferry.CodeInvalidArgument, fe.Code)
				}
			})
		}
		var sum int64
		require.NoError(t, c.Call(t.Context(), "Arith.Add", codec.Raw(mustMarshal([]any{3, 4})), &sum))
		assert.Equal(t, int64(7), sum)
	})
}

// TestArgumentsRawMsgpackRPC sends the spec's request bytes over TCP, as a
// client in another language would: params [3.5, 4] get an error response
// that says which argument and why, and the connection stays open.
func TestArgumentsRawMsgpackRPC(t *testing.T) {
	conn, err := net.Dial("tcp", listen(t, newServer(t)))
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	dec := msgpack.NewDecoder(conn)
	for i, ac := range append(argCases, argCase{name: "valid", params: []any{3, 4}, sum: 7}) {
		_, err := conn.Write(mustMarshal([]any{0, i, "Arith.Add", ac.params}))
		require.NoError(t, err)
		var resp []any
		require.NoError(t, dec.Decode(&resp), ac.name)
		require.Len(t, resp, 4, ac.name)
		if ac.err == "" {
			assert.Nil(t, resp[2], ac.name)
			assert.EqualValues(t, ac.sum, resp[3], ac.name)
			continue
		}
		assert.Equal(t, ac.err, resp[2], ac.name)
		assert.Nil(t, resp[3], ac.name)
	}
}

// TestDisallowUnknownFields: with the option, a key that names no field
// is refused; without it (above), it is skipped.
func TestDisallowUnknownFields(t *testing.T) {
	c := dialTCP(t, newServer(t, server.WithDisallowUnknownFields()))
	var sum int64
	err := c.Call(t.Context(), "Arith.Add", map[string]int{"A": 1, "C": 2}, &sum)
	var fe *ferry.Error
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, ferry.CodeInvalidArgument, fe.Code)
	assert.Equal(t, `Arith.Add: unknown field "C" (fields: A, B)`, fe.Message)
	require.NoError(t, c.Call(t.Context(), "Arith.Add", map[string]int{"A": 1, "B": 2}, &sum))
	assert.Equal(t, int64(3), sum)
}

// TestReplyConversions: the caller decodes replies by the same rules; a
// reply that does not fit is an error with one "ferry:" prefix.
func TestReplyConversions(t *testing.T) {
	c := dialTCP(t, newServer(t))
	var n int64
	err := c.Call(t.Context(), "Echo.Echo", 3.5, &n)
	var fe *ferry.Error
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, ferry.CodeInternal, fe.Code)
	assert.Equal(t, "ferry: internal: cannot decode the result into *int64: want an integer, got 3.5", err.Error())
	require.NoError(t, c.Call(t.Context(), "Echo.Echo", 4.0, &n))
	assert.Equal(t, int64(4), n)
}
