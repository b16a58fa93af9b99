package e2e_test

// Audit attacks (see attack_audit_test.go): Ferry's control methods with
// the wrong params, yamux frames that break or bend the session's rules,
// params of the wrong types, streams opened wrongly, and responses nobody
// asked for.

import (
	"bytes"
	"io"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// TestAuditControlWrongParams: Ferry's control methods ($ferry.hello,
// cancel, cancelstream, goaway, settled, drained, and reserved names that
// are none of them) with params of every wrong shape, each sent as a
// notification and then as a request, on a bare connection and on a
// session's call stream. Every request is answered (a result or an
// error), no notification is, the connection is not closed, and an
// Arith.Add sent after each pair is answered.
func TestAuditControlWrongParams(t *testing.T) {
	srv := startArith(t, buildArithServer(t))
	params := []any{
		nil, 5, "x", []any{}, []any{"x"}, []any{-1}, []any{uint64(1) << 40}, []any{1.5},
		[]any{map[string]any{}}, []any{[]any{1}}, map[string]any{"a": 1}, []any{1, 2, 3},
		[]any{map[string]any{"token": 5}}, []any{map[string]any{"settle": "yes"}},
		[]any{map[string]any{"token": string(make([]byte, 3000))}}, []any{uint32(1<<32 - 1)},
	}
	methods := []string{
		"$ferry.hello", "$ferry.cancel", "$ferry.cancelstream", "$ferry.goaway",
		"$ferry.settled", "$ferry.drained", "$ferry.nope", "$ferry", "$", "$ferry.hello\x00",
	}
	for _, bare := range []bool{true, false} {
		var write func(b ...[]byte)
		var read func() []any
		if bare {
			c := dialRaw(t, srv.addr)
			write, read = c.write, c.read
		} else {
			ws := dialSession(t, srv.addr)
			write, read = ws.call.write, ws.call.read
		}
		id := uint32(100)
		for _, m := range methods {
			for _, p := range params {
				id += 2
				write(enc([]any{2, m, p, map[string]any{}}),
					enc([]any{0, id, m, p, map[string]any{}}),
					request(id+1, "Arith.Add", []any{3, 4}, map[string]any{}))
				got := map[uint64]response{}
				for range 2 { // in any order
					r := parseResponse(t, read())
					got[r.msgid] = r
				}
				require.Contains(t, got, uint64(id), "bare %t: %q %v: the request is answered", bare, m, p)
				require.Contains(t, got, uint64(id+1), "bare %t: %q %v", bare, m, p)
				require.EqualValues(t, 7, got[uint64(id+1)].result, "bare %t: %q %v", bare, m, p)
			}
		}
	}
	took, err := probeAdd(srv.addr)
	require.NoError(t, err)
	assert.Less(t, took, siegeProbeLimit)
}

// TestAuditSessionFrames: yamux frames that break the session's rules, or
// that it must tolerate, each on a fresh session after its hello, followed
// by a ping. A frame that breaks the rules (a data frame longer than the
// stream's window, a second SYN for an open stream, a SYN for stream 0, a
// go-away) ends the session, at once; one it tolerates (frames for streams
// that do not exist, an unsolicited ping answer, a message split into
// one-byte frames, floods of empty frames) leaves it answering the ping.
// Either way the server lives and serves a fresh client.
func TestAuditSessionFrames(t *testing.T) {
	srv := startArith(t, buildArithServer(t))
	add := request(5, "Arith.Add", []any{3, 4}, map[string]any{})
	repeat := func(b []byte, n int) []byte { return bytes.Repeat(b, n) }
	oneByteFrames := func(p []byte) []byte {
		var b []byte
		for _, x := range p {
			b = append(append(b, yamuxFrame(0, 0, 1, 1)...), x)
		}
		return b
	}
	// The server raises the call stream's window to 1 MiB in the frame
	// that accepts it (PROTOCOL.md 8): a frame of 1 MiB + 1 passes it.
	pastWindow := echoBinRequest(1, 2<<20)[:1<<20+1]
	cases := []struct {
		name  string
		b     []byte
		ended bool
	}{
		{"data frame declaring 4 GiB", yamuxFrame(0, 0, 1, 0xffffffff), true},
		{"data frame past the window", append(yamuxFrame(0, 0, 1, uint32(len(pastWindow))), pastWindow...), true},
		{"SYN again on the open call stream", yamuxFrame(1, 1, 1, 0), true},
		{"data with SYN again on the call stream", append(yamuxFrame(0, 1, 1, uint32(len(add))), add...), true},
		{"every flag on the call stream", yamuxFrame(1, 15, 1, 0), true},
		{"SYN on stream 0", yamuxFrame(1, 1, 0, 0), true},
		{"go-away, code 2^32-1", yamuxFrame(3, 0, 0, 0xffffffff), true},
		{"go-away with every flag", yamuxFrame(3, 15, 7, 2), true},
		{"RST for a stream never opened", yamuxFrame(1, 8, 99, 0), false},
		{"FIN for a stream never opened", yamuxFrame(1, 4, 97, 0), false},
		{"window update for a stream never opened", yamuxFrame(1, 0, 95, 1000), false},
		{"ACK for a stream never opened", yamuxFrame(1, 2, 93, 0), false},
		{"data without SYN for a stream never opened", append(yamuxFrame(0, 0, 91, 10), make([]byte, 10)...), false},
		{"data on stream 0", append(yamuxFrame(0, 0, 0, 4), 1, 2, 3, 4), false},
		{"ping answer never asked for", yamuxFrame(2, 2, 0, 12345), false},
		{"ping on stream 5", yamuxFrame(2, 1, 5, 3), false},
		{"SYN for stream 2^32-1", yamuxFrame(1, 1, 0xffffffff, 0), false},
		{"SYN for 5, then for 3", append(yamuxFrame(1, 1, 5, 0), yamuxFrame(1, 1, 3, 0)...), false},
		{"SYN with a window of 2^32-1", yamuxFrame(1, 1, 7, 0xffffffff), false},
		{"stream 3 reset, then opened again", append(append(yamuxFrame(1, 1, 3, 0), yamuxFrame(1, 8, 3, 0)...), yamuxFrame(1, 1, 3, 0)...), false},
		{"unknown flag bits", yamuxFrame(0, 0x8000, 1, 0), false},
		{"20,000 empty data frames", repeat(yamuxFrame(0, 0, 1, 0), 20_000), false},
		{"20,000 empty window updates", repeat(yamuxFrame(1, 0, 1, 0), 20_000), false},
		{"a request in one-byte frames", oneByteFrames(add), false},
	}
	for _, tc := range cases {
		c := dialRaw(t, srv.addr)
		c.write(helloSession())
		_, err := readSessionReply(c.r)
		require.NoError(t, err, tc.name)
		_ = c.writeMay(append(tc.b, yamuxFrame(2, 1, 0, 77)...))
		acked := readPingAck(t, c, 77)
		if tc.ended {
			assert.False(t, acked, "%s: the session ends", tc.name)
			c.discardUntilClosed(5 * time.Second)
		} else {
			assert.True(t, acked, "%s: the session goes on", tc.name)
		}
		c.conn.Close()
	}
	took, err := probeAdd(srv.addr)
	require.NoError(t, err)
	assert.Less(t, took, siegeProbeLimit)
}

// TestAuditParamsConfusion: params of the wrong type for every unary
// method of the example server, the introspection and health methods
// included (NaN, infinities, 2^63 as a float, extension values where
// numbers, strings or maps belong, maps with integer keys, arrays nested
// where a string belongs). Each is answered on the same connection: a
// result when the value fits exactly, else invalid_argument (or
// not_found), never internal (what a panicking handler or decoder gets).
func TestAuditParamsConfusion(t *testing.T) {
	srv := startArith(t, buildArithServer(t))
	c := dialRaw(t, srv.addr)
	f32NaN := msgpack.RawMessage{0xca, 0x7f, 0xc0, 0, 0}
	stamp := msgpack.RawMessage{0xd6, 0xff, 0, 0, 0, 1} // a timestamp
	ext5 := msgpack.RawMessage{0xd4, 5, 0}
	const ok, invalid, notFound = 0, 3, 5
	cases := []struct {
		method string
		params any
		code   uint64
		result any
	}{
		{"Arith.Add", []any{math.NaN(), 0}, invalid, nil},
		{"Arith.Add", []any{f32NaN, 0}, invalid, nil},
		{"Arith.Add", []any{math.Inf(1), 0}, invalid, nil},
		{"Arith.Add", []any{math.Inf(-1), 0}, invalid, nil},
		{"Arith.Add", []any{float64(1 << 63), 0}, invalid, nil},
		{"Arith.Add", []any{-float64(1 << 63), 0}, ok, int64(math.MinInt64)},
		{"Arith.Add", []any{math.Copysign(0, -1), 0}, ok, int8(0)},
		{"Arith.Add", []any{1e300, 0}, invalid, nil},
		{"Arith.Add", []any{stamp, 1}, invalid, nil},
		{"Arith.Add", []any{[]byte("3"), 4}, invalid, nil},
		{"Arith.Add", []any{map[int]int{0: 3, 1: 4}}, invalid, nil},
		{"Arith.Add", map[int]int{0: 3, 1: 4}, invalid, nil},
		{"Arith.Add", ext5, invalid, nil},
		{"Arith.Add", []any{map[string]any{"A": stamp}}, invalid, nil},
		{"Arith.Div", []any{int64(math.MinInt64), -1}, ok, int64(math.MinInt64)},
		{"Arith.Mul", []any{int64(math.MaxInt64), 2}, ok, int8(-2)},
		{"Arith.Mul", []any{math.NaN()}, invalid, nil},
		{"Echo.Map", []any{map[int]int{1: 2}}, invalid, nil},
		{"Echo.Map", []any{map[string]any{"a": ext5}}, invalid, nil},
		{"Echo.Map", []any{ext5}, invalid, nil},
		{"Health.Check", []any{map[string]any{"service": 5}}, invalid, nil},
		{"Health.Check", []any{ext5}, invalid, nil},
		{"Introspect.Describe", []any{5}, invalid, nil},
		{"Introspect.Describe", []any{ext5}, invalid, nil},
		{"Introspect.Describe", []any{map[string]any{"method": stamp}}, invalid, nil},
		{"Introspect.Describe", []any{[]any{[]any{[]any{}}}}, invalid, nil},
		{"Introspect.Describe", []any{map[any]any{1: "x", "method": "Arith.Add"}}, invalid, nil},
		{"Introspect.Describe", []any{nil}, notFound, nil},
		{"Introspect.List", []any{map[string]any{"x": stamp}}, invalid, nil},
	}
	for i, tc := range cases {
		r := c.call(enc([]any{0, uint32(i), tc.method, tc.params, map[string]any{}}))
		require.EqualValues(t, i, r.msgid)
		assert.Equal(t, tc.code, r.code(), "%s %v: %v", tc.method, tc.params, r.err)
		if tc.code == ok {
			assert.Equal(t, tc.result, r.result, "%s %v", tc.method, tc.params)
		}
	}
	r := c.call(request(99, "Arith.Add", []any{3, 4}))
	assert.EqualValues(t, 7, r.result, "the connection goes on")
}

// TestAuditStreamOpenings: streams whose opening, after the 0xc1 marker,
// is not the request PROTOCOL.md 6 asks for (a notification, a response,
// a bare integer, the marker again, nesting past MaxDepth, an ext that is
// not a map, a deadline already passed, a reserved method, metadata past
// its bounds), followed by a message and a CloseSend, then the caller's
// close. Each stream ends (a final status, or a close) within 3 s, and the
// session's call stream goes on answering.
func TestAuditStreamOpenings(t *testing.T) {
	srv := startArith(t, buildArithServer(t))
	s := dialSession(t, srv.addr)
	md := map[string]any{}
	for i := range 1025 {
		md[strconv.Itoa(i)] = ""
	}
	opens := [][]byte{
		enc([]any{2, "Echo.Chat", []any{}, map[string]any{}}),
		enc([]any{1, 0, nil, nil}),
		enc([]any{0, 5, "Echo.Chat", []any{1, 2}, map[string]any{}}),
		enc([]any{0, 0, []byte("Echo.Chat"), []any{}, map[string]any{}}),
		enc([]any{0, 0, "Echo.Chat", []any{}, map[string]any{"t": -1}}),
		enc([]any{0, 0, "Echo.Chat", []any{}, 5}),
		enc([]any{0, 0, "Echo.Chat", []any{}}),
		{0xc1},
		enc(5),
		enc([]any{0, 0, "$ferry.hello", []any{}, map[string]any{}}),
		enc([]any{0, 0, "$ferry.cancelstream", []any{}, map[string]any{}}),
		enc([]any{0, 0, "Echo.Chat", []any{}, map[string]any{"m": md}}),
		append(nested(70, nil), 0x90),
	}
	for i, b := range opens {
		st := s.open()
		st.write(append([]byte{0xc1}, b...), frame("a"), closeSend)
		require.NoError(t, st.st.Close())
		require.NoError(t, st.st.SetReadDeadline(time.Now().Add(3*time.Second)))
		got, err := io.ReadAll(st.r)
		require.NoError(t, err, "opening %d (% x): the stream ends; got % x", i, b[:min(len(b), 16)], got)
		r := parseResponse(t, s.call.read2(request(uint32(i), "Arith.Add", []any{1, 1}, map[string]any{})))
		require.EqualValues(t, 2, r.result, "the call stream after opening %d", i)
	}
}

// TestAuditUnaskedResponses: responses to calls the server never made,
// on a session's call stream (the bare case is in TestAttackBareFloods):
// with results, errors of every shape, extension maps of unknown and
// wrong-typed keys, and a result of 60 KiB. They are dropped, and calls
// on the stream go on being answered.
func TestAuditUnaskedResponses(t *testing.T) {
	srv := startArith(t, buildArithServer(t))
	s := dialSession(t, srv.addr)
	for i, resp := range []any{
		[]any{1, 5, nil, 1},
		[]any{1, uint32(1<<32 - 1), "boom", nil, map[string]any{"c": 99, "d": map[string]any{"k": "v"}}},
		[]any{1, 0, []any{0, "Vim:E121"}, nil},
		[]any{1, 1, map[string]any{"x": 1}, nil, map[string]any{"c": "x", "n": 5, "d": 7}},
		[]any{1, 2, nil, nil, 5},
		[]any{1, 3, nil, make([]byte, 60<<10)},
		[]any{1, 4, 17, nil, map[string]any{}},
	} {
		s.call.write(enc(resp))
		r := parseResponse(t, s.call.read2(request(uint32(100+i), "Arith.Add", []any{3, 4}, map[string]any{})))
		require.EqualValues(t, 100+i, r.msgid)
		require.EqualValues(t, 7, r.result, "after response %d", i)
	}
}
