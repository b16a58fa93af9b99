package e2e_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDocsBareMsgpackRPC checks, from a raw socket speaking plain
// MessagePack-RPC to the example server, PROTOCOL.md sections 1 to 3 and
// the README's plain-client promises.
func TestDocsBareMsgpackRPC(t *testing.T) {
	srv := startArith(t, buildArithServer(t))

	t.Run("AddFromASpecOnlyPeer", func(t *testing.T) {
		// README: "Arith.Add [3, 4] returns 7"; PROTOCOL.md 3: "A spec-only
		// peer sends four elements and gets four back".
		c := dialRaw(t, srv.addr)
		r := c.call(request(1, "Arith.Add", []any{3, 4}))
		assert.Equal(t, 4, r.n)
		assert.EqualValues(t, 1, r.msgid)
		assert.Nil(t, r.err)
		assert.EqualValues(t, 7, r.result)
		r = c.call(request(2, "Arith.Div", []any{7, 0}))
		assert.Equal(t, 4, r.n, "an error response to a spec-only peer has four elements")
		assert.Equal(t, "division by zero", r.err, "the error is a str, the message")
		assert.Nil(t, r.result)
	})

	t.Run("ArgumentRefusals", func(t *testing.T) {
		// README and PROTOCOL.md 2.1: refused with invalid_argument and these
		// messages; the connection stays open.
		c := dialRaw(t, srv.addr)
		for i, tc := range []struct {
			params []any
			msg    string
		}{
			{[]any{3.5, 4}, "Arith.Add: argument 1 (A): want an integer, got 3.5"},
			{[]any{3, 4, 5}, "Arith.Add: takes at most 2 arguments (A, B), got 3"},
			{[]any{map[string]any{"a": 3, "b": 4}}, `Arith.Add: no field named "a", "b" (fields: A, B)`},
			{[]any{map[string]any{"A": 3, "B": 4.25}}, "Arith.Add: field B: want an integer, got 4.25"},
		} {
			id := uint32(10 + i)
			r := c.call(request(id, "Arith.Add", tc.params))
			assert.Equal(t, 4, r.n)
			assert.Equal(t, tc.msg, r.err)
			r = c.call(request(id, "Arith.Add", tc.params, map[string]any{}))
			assert.Equal(t, 5, r.n)
			assert.Equal(t, tc.msg, r.err)
			assert.EqualValues(t, 3, r.code(), "invalid_argument")
			assert.NotContains(t, r.ext, "n", "the handler's arguments were refused, not the call: no \"n\" needed")
		}
		r := c.call(request(20, "Arith.Add", []any{4.0, 1}))
		assert.EqualValues(t, 5, r.result, "an integral float fits an integer")
		r = c.call(request(21, "Arith.Add", []any{3}))
		assert.EqualValues(t, 3, r.result, "fewer positional params leave zero values")
		for i, params := range [][]any{{nil, 4}, {[]any{3, 1}}, {map[string]any{"A": 3, "B": 1}}, {map[string]any{"B": 4, "C": 9}}, {int8(3), uint64(1)}} {
			r = c.call(request(uint32(30+i), "Arith.Add", params))
			assert.Nil(t, r.err, "%v", params)
			assert.EqualValues(t, 4, r.result, "%v", params)
		}
	})

	t.Run("ErrorExt", func(t *testing.T) {
		// PROTOCOL.md 3: a request with an ext map gets an ext map with the
		// code when the response is an error.
		c := dialRaw(t, srv.addr)
		r := c.call(request(1, "Arith.Div", []any{1, 0}, map[string]any{}))
		require.Equal(t, 5, r.n)
		assert.Equal(t, "division by zero", r.err)
		assert.EqualValues(t, 3, r.code())
		assert.NotContains(t, r.ext, "n", "the handler ran")
		r = c.call(request(2, "Arith.Add", []any{1, 2}, map[string]any{"t": int64(time.Minute), "m": map[string]string{"k": "v"}, "zz": 1}))
		assert.Nil(t, r.err, "unknown ext keys are ignored")
		assert.EqualValues(t, 3, r.result)
	})

	t.Run("UnknownMethods", func(t *testing.T) {
		// PROTOCOL.md 7 and SECURITY.md: any name that is not exactly a
		// registered one gets unimplemented, "n": true, no handler runs.
		c := dialRaw(t, srv.addr)
		names := []string{"Arith.Nope", "arith.add", "Arith.add", " Arith.Add", "Arith.Add ", "Arith.Add\x00",
			"Arith. Add", ".Add", "Arith/Add", "Arith_Add", "Arith..Add", "", "Arith", "Nope.Add"}
		for i, name := range names {
			r := c.call(request(uint32(i), name, []any{1, 2}))
			assert.Equal(t, 4, r.n, "%q", name)
			assert.NotNil(t, r.err, "%q", name)
			assert.Nil(t, r.result, "%q", name)
			r = c.call(request(uint32(i), name, []any{1, 2}, map[string]any{}))
			require.Equal(t, 5, r.n, "%q", name)
			assert.EqualValues(t, 12, r.code(), "%q: unimplemented", name)
			assert.Equal(t, true, r.ext["n"], "%q: not executed", name)
		}
		r := c.call(request(99, "Arith.Add", []any{1, 2}))
		assert.EqualValues(t, 3, r.result, "the connection stays open")
	})

	t.Run("UnaryRequestToAStreamingMethod", func(t *testing.T) {
		// PROTOCOL.md 6: "a unary request to a streaming method [is] refused
		// with unimplemented (like an unknown unary method, without the "n"
		// flag)".
		c := dialRaw(t, srv.addr)
		for i, name := range []string{"Echo.Chat", "Counter.Count"} {
			r := c.call(request(uint32(i), name, []any{3}, map[string]any{}))
			require.Equal(t, 5, r.n, name)
			assert.EqualValues(t, 12, r.code(), name)
			assert.NotContains(t, r.ext, "n", name)
		}
	})

	t.Run("ReservedNames", func(t *testing.T) {
		// PROTOCOL.md 4: "A request to an unknown reserved method gets
		// unimplemented; an unknown reserved notification is ignored."
		c := dialRaw(t, srv.addr)
		c.write(notification("$ferry.nope", []any{}, map[string]any{}))
		r := c.call(request(7, "$ferry.nope", []any{}, map[string]any{}))
		assert.EqualValues(t, 7, r.msgid, "the notification got no response")
		assert.EqualValues(t, 12, r.code())
	})

	t.Run("NotificationsNeverAnswered", func(t *testing.T) {
		// PROTOCOL.md 2: "Notifications never get a response, not even an
		// error."
		c := dialRaw(t, srv.addr)
		c.write(
			notification("Arith.Nope", []any{1}),
			notification("Arith.Add", []any{3.5, 4}),
			notification("Arith.Div", []any{1, 0}),
			notification("Arith.Add", []any{1, 2}),
			notification("Arith.Nope", []any{1}, map[string]any{}),
			notification("Echo.Chat", []any{1}, map[string]any{}),
			enc([]any{2, "Arith.Add", []any{1, 2}, 5}),
			enc([]any{2, "Arith.Add", 5}),
			notification("$ferry.goaway", []any{}),
		)
		r := c.call(request(42, "Arith.Add", []any{1, 2}))
		assert.EqualValues(t, 42, r.msgid, "the first response is the request's")
	})

	t.Run("PipelinedAndSplit", func(t *testing.T) {
		// PROTOCOL.md 2: "Requests may be pipelined, and a message may be
		// split across any number of reads."
		c := dialRaw(t, srv.addr)
		var all []byte
		for i := range 50 {
			all = append(all, request(uint32(i), "Arith.Add", []any{i, 1})...)
		}
		c.write(all)
		seen := map[uint64]bool{}
		for range 50 {
			r := parseResponse(t, c.read())
			assert.EqualValues(t, r.msgid+1, r.result)
			seen[r.msgid] = true
		}
		assert.Len(t, seen, 50, "responses may come in any order, but each once")
		req := request(77, "Arith.Add", []any{30, 12})
		for i := range req {
			c.write(req[i : i+1])
		}
		r := parseResponse(t, c.read())
		assert.EqualValues(t, 77, r.msgid)
		assert.EqualValues(t, 42, r.result)
	})

	t.Run("MsgidWidths", func(t *testing.T) {
		// PROTOCOL.md 2: "any value in uint32 (0 and 2^32−1 included), in any
		// integer width; an integral float ... is accepted. A response carries
		// the same value, encoded minimally."
		method, params := str8("Arith.Add"), []byte{0x92, 0x01, 0x02}
		for _, tc := range []struct {
			name  string
			msgid []byte // as sent
			want  []byte // as answered
		}{
			{"fixint 0", []byte{0x00}, []byte{0x00}},
			{"uint64 5", []byte{0xcf, 0, 0, 0, 0, 0, 0, 0, 5}, []byte{0x05}},
			{"int8 5", []byte{0xd0, 5}, []byte{0x05}},
			{"int64 300", []byte{0xd3, 0, 0, 0, 0, 0, 0, 1, 0x2c}, []byte{0xcd, 0x01, 0x2c}},
			{"uint32 max", []byte{0xce, 0xff, 0xff, 0xff, 0xff}, []byte{0xce, 0xff, 0xff, 0xff, 0xff}},
			{"uint64 max32", []byte{0xcf, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, []byte{0xce, 0xff, 0xff, 0xff, 0xff}},
			{"float64 2^31", float64Bytes(1 << 31), []byte{0xce, 0x80, 0, 0, 0}},
			{"float64 2^32-1", float64Bytes(math.MaxUint32), []byte{0xce, 0xff, 0xff, 0xff, 0xff}},
			{"float32 7", []byte{0xca, 0x40, 0xe0, 0, 0}, []byte{0x07}},
		} {
			c := dialRaw(t, srv.addr)
			c.write(rawRequest(tc.msgid, method, params))
			raw := c.readRaw()
			require.Greater(t, len(raw), 2+len(tc.want), tc.name)
			assert.Equal(t, []byte{0x94, 0x01}, raw[:2], tc.name)
			assert.Equal(t, tc.want, raw[2:2+len(tc.want)], "%s: the msgid encoded minimally in % x", tc.name, raw)
			assert.Equal(t, []byte{0xc0, 0x03}, raw[2+len(tc.want):], "%s: nil error, result 3", tc.name)
		}
	})

	t.Run("MethodAsBin", func(t *testing.T) {
		// PROTOCOL.md 2: "method: a str, or a bin".
		c := dialRaw(t, srv.addr)
		name := "Arith.Add"
		c.write(rawRequest([]byte{0x01}, append([]byte{0xc4, byte(len(name))}, name...), []byte{0x92, 0x03, 0x04}))
		r := parseResponse(t, c.read())
		assert.EqualValues(t, 7, r.result)
	})

	t.Run("ProtocolErrorsCloseTheConnection", func(t *testing.T) {
		// PROTOCOL.md 5: "the reserved byte 0xc1, a message that is not an
		// array, a wrong element count, an unknown message type or a msgid
		// outside uint32 are protocol errors", which close a bare connection.
		for _, tc := range []struct {
			name string
			msg  []byte
		}{
			{"0xc1 as a message", []byte{0xc1}},
			{"0xc1 inside params", rawRequest([]byte{0x01}, str8("Echo.Echo"), []byte{0x91, 0xc1})},
			{"a map", enc(map[string]any{"a": 1})},
			{"an integer", []byte{0x01}},
			{"3 elements", enc([]any{0, 1, "Arith.Add"})},
			{"6 elements", enc([]any{0, 1, "Arith.Add", []any{1, 2}, map[string]any{}, 0})},
			{"type 7", enc([]any{7, 1, "Arith.Add", []any{1, 2}})},
			{"type -1", enc([]any{-1, 1, "Arith.Add", []any{1, 2}})},
			{"msgid 2^32", rawRequest([]byte{0xcf, 0, 0, 0, 1, 0, 0, 0, 0}, str8("Arith.Add"), []byte{0x90})},
			{"msgid -1", rawRequest([]byte{0xff}, str8("Arith.Add"), []byte{0x90})},
			{"msgid 1.5", rawRequest(float64Bytes(1.5), str8("Arith.Add"), []byte{0x90})},
			{"msgid a str", rawRequest(str8("1"), str8("Arith.Add"), []byte{0x90})},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c := dialRaw(t, srv.addr)
				r := c.call(request(1, "Arith.Add", []any{1, 2})) // the first byte is an array's
				require.EqualValues(t, 3, r.result)
				c.write(tc.msg)
				took := c.closedWithin(5 * time.Second)
				t.Logf("closed after %v", took)
			})
		}
	})

	t.Run("ParamsAndExtShapes", func(t *testing.T) {
		// PROTOCOL.md 2.1 and 3: params that are a map are taken as [map],
		// nil as []; other non-array params, and a malformed ext map, get
		// invalid_argument with the connection open. A nil ext is an empty one.
		c := dialRaw(t, srv.addr)
		r := c.call(enc([]any{0, 1, "Arith.Add", map[string]any{"A": 1, "B": 2}}))
		assert.EqualValues(t, 3, r.result)
		r = c.call(enc([]any{0, 2, "Arith.Add", nil}))
		assert.Nil(t, r.err)
		assert.EqualValues(t, 0, r.result)
		r = c.call(enc([]any{0, 3, "Arith.Add", 5}))
		assert.Equal(t, "Arith.Add: want a map or an array, got 5", r.err)
		r = c.call(enc([]any{0, 4, "Arith.Add", []any{1, 2}, nil}))
		assert.Equal(t, 4, r.n)
		assert.EqualValues(t, 3, r.result)
		for i, ext := range []any{5, map[int]any{1: 1}, map[string]any{"t": "soon"}, map[string]any{"m": map[string]any{"k": 1}}, map[string]any{"m": []any{"k"}}} {
			r = c.call(enc([]any{0, 10 + i, "Arith.Add", []any{1, 2}, ext}))
			assert.EqualValues(t, 3, r.code(), "%v: %v", ext, r.err)
			assert.Contains(t, r.err, "malformed extensions", "%v", ext)
			assert.NotContains(t, r.ext, "n", "%v", ext)
		}
		r = c.call(request(20, "Arith.Add", []any{1, 2}))
		assert.EqualValues(t, 3, r.result)
		// A method that is neither a str nor a bin is a protocol error.
		for _, method := range []any{7, nil, []any{"Arith.Add"}} {
			c := dialRaw(t, srv.addr)
			c.write(enc([]any{0, 1, method, []any{1, 2}}))
			c.closedWithin(5 * time.Second)
		}
	})

	t.Run("FirstByte", func(t *testing.T) {
		// PROTOCOL.md 1: 0x90–0x9f, 0xdc, 0xdd start bare MessagePack-RPC;
		// anything but those and 0x00 closes the connection.
		for _, first := range [][]byte{[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), {0x80}, {0x01}, {0xc1}, {0x16, 0x03, 0x01}, {0xff}} {
			c := dialRaw(t, srv.addr)
			c.write(first)
			c.closedWithin(5 * time.Second)
		}
		req := request(5, "Arith.Add", []any{2, 3})
		for _, head := range [][]byte{{0xdc, 0x00, 0x04}, {0xdd, 0x00, 0x00, 0x00, 0x04}} {
			c := dialRaw(t, srv.addr)
			c.write(append(head, req[1:]...))
			r := parseResponse(t, c.read())
			assert.EqualValues(t, 5, r.result, "% x", head)
		}
	})

	t.Run("ExtPayloadIsOpaque", func(t *testing.T) {
		// PROTOCOL.md 5: "an ext value's payload is opaque ... An ext value
		// where the argument's type wants a map ... does not fit", and such
		// arguments get invalid_argument with the connection open.
		c := dialRaw(t, srv.addr)
		bomb := bytes.Repeat([]byte{0xdf, 0xff, 0xff, 0xff, 0xff}, 4) // map32 headers: never parsed
		ext := append([]byte{0xc7, byte(len(bomb)), 0x05}, bomb...)
		for i, p := range [][]byte{
			append([]byte{0x91}, ext...),
			{0x91, 0xc7, 0x00, 0x05},       // a zero-length ext
			{0x91, 0xd4, 0x01, 0x80},       // fixext1 whose payload is a map header
			{0x92, 0xc7, 0x00, 0x05, 0x80}, // a zero-length ext followed by a map
			{0x92, 0xc7, 0x00, 0x05, 0xc0}, // ... or by nil
		} {
			c.write(rawRequest([]byte{byte(i)}, str8("Echo.Map"), p, []byte{0x80}))
			r := parseResponse(t, c.read())
			assert.EqualValues(t, 3, r.code(), "% x: invalid_argument (%v)", p, r.err)
		}
		c.write(rawRequest([]byte{9}, str8("Echo.Echo"), append([]byte{0x91}, ext...)))
		raw := c.readRaw()
		assert.Equal(t, append([]byte{0x94, 0x01, 0x09, 0xc0}, ext...), raw, "Echo.Echo returns the ext unchanged")
	})
}

func float64Bytes(f float64) []byte {
	b := make([]byte, 9)
	b[0] = 0xcb
	binary.BigEndian.PutUint64(b[1:], math.Float64bits(f))
	return b
}
