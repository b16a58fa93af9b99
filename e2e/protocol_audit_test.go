package e2e_test

// The tests in protocol_audit*_test.go check sentences of PROTOCOL.md that
// the docs_*_test.go files leave out, the way a tester holding only that
// document would: hand-built bytes on raw sockets (bare MessagePack-RPC,
// and yamux sessions), against a server with the example's services and a
// few more that report what the handler saw.

import (
	"bytes"
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/examples/arith/arith"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// auditFail is Audit.Fail's argument: the error to return.
type auditFail struct {
	Code    uint32
	Message string
	Details map[string]string
}

// auditNested is Audit.Nested's argument: a struct with a nested one.
type auditNested struct {
	Name string
	Opts struct{ Limit uint8 }
}

// protoAuditServer serves the example's services and Audit.*, with opts; runs
// counts the runs of Audit.Count, Audit.Deadline and Audit.Sum.
func protoAuditServer(t *testing.T, runs *atomic.Int64, opts ...server.Option) string {
	t.Helper()
	s := server.New(opts...)
	require.NoError(t, arith.Register(s))
	require.NoError(t, server.Handle(s, "Audit.Fail", func(_ context.Context, a *auditFail) (*struct{}, error) {
		fe := ferry.NewError(ferry.Code(a.Code), a.Message)
		fe.Details = a.Details
		return nil, fe
	}))
	require.NoError(t, server.Handle(s, "Audit.Count", func(context.Context, *struct{}) (*int64, error) {
		n := runs.Add(1)
		return &n, nil
	}))
	// Audit.Deadline returns the handler's remaining time in ms, -1 for no
	// deadline.
	require.NoError(t, server.Handle(s, "Audit.Deadline", func(ctx context.Context, _ *struct{}) (*int64, error) {
		runs.Add(1)
		left := int64(-1)
		if d, ok := ctx.Deadline(); ok {
			left = time.Until(d).Milliseconds()
		}
		return &left, nil
	}))
	require.NoError(t, server.Handle(s, "Audit.Nested", func(_ context.Context, a *auditNested) (*auditNested, error) {
		return a, nil
	}))
	require.NoError(t, server.HandleClientStream(s, "Audit.Sum", func(_ context.Context, recv func() (*int, error)) (*int, error) {
		runs.Add(1)
		sum := 0
		for range 1000 {
			n, err := recv()
			if err != nil {
				return &sum, nil
			}
			sum += *n
		}
		return &sum, nil
	}))
	t.Cleanup(func() { s.Close() })
	return listen(t, s)
}

// TestProtocolAuditMessages checks PROTOCOL.md 2 and 3 on a bare
// connection and on a session's call stream: msgid widths, the response's
// shape with and without ext, error codes and details on the wire.
func TestProtocolAuditMessages(t *testing.T) {
	var runs atomic.Int64
	addr := protoAuditServer(t, &runs)

	t.Run("MsgidWidths", func(t *testing.T) {
		// "any value in uint32 ... in any integer width; an integral float
		// ... is accepted. A response carries the same value, encoded
		// minimally."
		c := dialRaw(t, addr)
		for _, tc := range []struct {
			name        string
			msgid, want []byte
		}{
			{"uint8 200", []byte{0xcc, 200}, []byte{0xcc, 200}},
			{"uint16 5", []byte{0xcd, 0, 5}, []byte{0x05}},
			{"int16 300", []byte{0xd1, 0x01, 0x2c}, []byte{0xcd, 0x01, 0x2c}},
			{"int32 65536", []byte{0xd2, 0, 1, 0, 0}, []byte{0xce, 0, 1, 0, 0}},
			{"uint32 127", []byte{0xce, 0, 0, 0, 127}, []byte{0x7f}},
			{"float64 0", float64Bytes(0), []byte{0x00}},
		} {
			c.write(rawRequest(tc.msgid, str8("Arith.Add"), []byte{0x92, 0x01, 0x02}))
			raw := c.readRaw()
			assert.Equal(t, append(append([]byte{0x94, 0x01}, tc.want...), 0xc0, 0x03), raw, tc.name)
		}
		// Outside uint32, as a float too: a protocol error.
		for name, msgid := range map[string][]byte{
			"float64 2^32": float64Bytes(1 << 32), "float64 -1": float64Bytes(-1), "int16 -1": {0xd1, 0xff, 0xff},
		} {
			c := dialRaw(t, addr)
			c.write(rawRequest(msgid, str8("Arith.Add"), []byte{0x90}))
			c.closedWithin(5 * time.Second)
			t.Log(name, "closes the connection")
		}
		// The same on a session's call stream.
		s := dialSession(t, addr)
		s.call.write(rawRequest([]byte{0xce, 0xff, 0xff, 0xff, 0xff}, str8("Arith.Add"), []byte{0x92, 0x01, 0x02}, []byte{0x80}))
		r := parseResponse(t, s.call.read())
		assert.EqualValues(t, uint64(1<<32-1), r.msgid)
		assert.EqualValues(t, 3, r.result)
	})

	t.Run("SuccessCarriesNoExt", func(t *testing.T) {
		// "the response to such a request also carries an ext map when it is
		// an error": a success is [1, msgid, nil, result], on a bare
		// connection and on a session.
		c := dialRaw(t, addr)
		r := c.call(request(1, "Arith.Add", []any{1, 2}, map[string]any{}))
		assert.Equal(t, 4, r.n)
		assert.EqualValues(t, 3, r.result)
		s := dialSession(t, addr)
		r = parseResponse(t, s.call.read2(request(2, "Arith.Add", []any{1, 2}, map[string]any{"t": int64(time.Minute)})))
		assert.Equal(t, 4, r.n)
		assert.EqualValues(t, 3, r.result)
	})

	t.Run("ErrorCodesAndDetails", func(t *testing.T) {
		// Section 3's table: "c" the code numbered like gRPC's, "d" the
		// details; the error element is the message, a str; result nil.
		c := dialRaw(t, addr)
		s := dialSession(t, addr)
		for code := uint32(1); code <= 16; code++ {
			args := auditFail{Code: code, Message: "failed " + ferry.Code(code).String(), Details: map[string]string{"k": "v"}}
			for _, r := range []response{
				c.call(request(code, "Audit.Fail", []any{args}, map[string]any{})),
				parseResponse(t, s.call.read2(request(code+100, "Audit.Fail", []any{args}, map[string]any{}))),
			} {
				require.Equal(t, 5, r.n, "code %d", code)
				assert.Equal(t, args.Message, r.err, "code %d", code)
				assert.Nil(t, r.result, "code %d", code)
				assert.EqualValues(t, code, r.code(), "code %d", code)
				assert.Equal(t, map[string]any{"k": "v"}, r.ext["d"], "code %d", code)
				assert.NotContains(t, r.ext, "n", "code %d: the handler ran", code)
			}
			r := c.call(request(code, "Audit.Fail", []any{args}))
			assert.Equal(t, 4, r.n, "code %d: a spec-only peer gets four elements", code)
			assert.Equal(t, args.Message, r.err, "code %d", code)
		}
		assert.Equal(t, "unknown", ferry.Code(2).String())
		assert.Equal(t, "unauthenticated", ferry.Code(16).String())
	})

	t.Run("MalformedExtRunsNoHandler", func(t *testing.T) {
		// "An ext that is not a map, or whose keys are not str or whose
		// known keys hold the wrong types, gets invalid_argument ("malformed
		// extensions") and the handler does not run."
		c := dialRaw(t, addr)
		s := dialSession(t, addr)
		before := runs.Load()
		for i, ext := range []any{5, "t", []any{}, map[int]any{1: 1}, map[string]any{"t": "soon"}, map[string]any{"t": 1.5},
			map[string]any{"m": map[string]any{"k": 1}}, map[string]any{"m": []any{"k"}}, map[string]any{"m": map[int]string{1: "v"}}} {
			for _, r := range []response{
				c.call(enc([]any{0, i, "Audit.Count", []any{}, ext})),
				parseResponse(t, s.call.read2(enc([]any{0, i, "Audit.Count", []any{}, ext}))),
			} {
				require.Equal(t, 5, r.n, "%v", ext)
				assert.EqualValues(t, 3, r.code(), "%v: %v", ext, r.err)
				assert.Contains(t, r.err, "malformed extensions", "%v", ext)
				assert.NotContains(t, r.ext, "n", "%v", ext)
			}
		}
		assert.Equal(t, before, runs.Load(), "no handler ran")
		r := c.call(request(50, "Audit.Count", []any{}, map[string]any{"zz": []any{1}, "c": "x"}))
		assert.Nil(t, r.err, "unknown keys are ignored")
		r = c.call(request(51, "Audit.Deadline", []any{}, map[string]any{"t": nil, "m": nil}))
		assert.Nil(t, r.err, "a key whose value is nil is as if absent")
		assert.EqualValues(t, -1, toInt(t, r.result), "no deadline")
	})

	t.Run("NilExt", func(t *testing.T) {
		// "a nil in place of the map is an empty map (the request still has
		// five elements: an error response to it carries an ext map too)".
		c := dialRaw(t, addr)
		r := c.call(enc([]any{0, 1, "Arith.Add", []any{1, 2}, nil}))
		assert.Equal(t, 4, r.n)
		assert.EqualValues(t, 3, r.result)
		r = c.call(enc([]any{0, 2, "Arith.Div", []any{1, 0}, nil}))
		require.Equal(t, 5, r.n)
		assert.Equal(t, "division by zero", r.err)
		assert.EqualValues(t, 3, r.code())
	})

	t.Run("WrongElementCounts", func(t *testing.T) {
		// Section 5: "a wrong element count ... [is a] protocol error", for
		// every message type: a notification has 3 or 4, a response 4 or 5.
		for _, msg := range [][]byte{
			enc([]any{2, "Arith.Add"}), enc([]any{2, "Arith.Add", []any{1, 2}, map[string]any{}, 0}),
			enc([]any{1, 5, nil}), enc([]any{1, 5, nil, nil, nil, nil}), enc([]any{0, 1, "Arith.Add", []any{}, map[string]any{}, nil}),
		} {
			c := dialRaw(t, addr)
			c.write(msg)
			c.closedWithin(5 * time.Second)
		}
	})

	t.Run("Deadline", func(t *testing.T) {
		// "t": "the caller's remaining time in nanoseconds (int); the server
		// runs the handler with this relative deadline"; without it, or with
		// 0, there is none; a negative one has passed.
		s := dialSession(t, addr)
		for i, tc := range []struct {
			ext      map[string]any
			min, max int64 // the handler's remaining time, ms
		}{
			{map[string]any{}, -1, -1},
			{map[string]any{"t": 0}, -1, -1},
			{map[string]any{"t": int64(time.Minute)}, 50_000, 60_000},
			{map[string]any{"t": uint64(1 << 63)}, -1, -1}, // longer than any duration
			{map[string]any{"t": int64(2 * time.Hour)}, 7_100_000, 7_200_000},
		} {
			r := parseResponse(t, s.call.read2(request(uint32(10+i), "Audit.Deadline", []any{}, tc.ext)))
			require.Nil(t, r.err, "%v", tc.ext)
			left := toInt(t, r.result)
			assert.GreaterOrEqual(t, left, tc.min, "%v", tc.ext)
			assert.LessOrEqual(t, left, tc.max, "%v", tc.ext)
		}
		// A negative t has passed: the handler runs with an ended deadline,
		// or the server answers deadline_exceeded before running it (it
		// checks the deadline first when the call waited).
		r := parseResponse(t, s.call.read2(request(20, "Audit.Deadline", []any{}, map[string]any{"t": -1})))
		if r.err != nil {
			assert.EqualValues(t, ferry.CodeDeadlineExceeded, r.code(), "%v", r.err)
		} else {
			assert.LessOrEqual(t, toInt(t, r.result), int64(0), "a negative t: the deadline has passed")
		}
	})

	t.Run("ControlOnTheCallStream", func(t *testing.T) {
		// "A request to an unknown reserved method gets unimplemented; an
		// unknown reserved notification is ignored", on a session; so is a
		// $ferry.cancel for a msgid with no call running.
		s := dialSession(t, addr)
		s.call.write(notification("$ferry.nope", []any{1}, map[string]any{}),
			notification("$ferry.cancel", []any{12345}, map[string]any{}),
			notification("$ferry.cancelstream", []any{999}, map[string]any{}))
		r := parseResponse(t, s.call.read2(request(7, "$ferry.nope", []any{}, map[string]any{})))
		assert.EqualValues(t, 7, r.msgid, "no notification was answered")
		assert.EqualValues(t, 12, r.code())
		assert.Equal(t, true, r.ext["n"])
		// A hello's map may hold keys the server does not know.
		r = parseResponse(t, s.call.read2(request(8, "$ferry.hello", []any{map[string]any{"token": "", "settle": true, "later": 1}}, map[string]any{})))
		assert.Nil(t, r.err)
		assert.EqualValues(t, map[string]any{"max": uint32(4 << 20)}, r.result, "the server's MaxMessageSize (section 4)")
	})
}

// TestProtocolAuditArguments checks PROTOCOL.md 2.1's sentences the
// example's methods cannot show: a nested struct sent as an array, the
// first-field rule, a nested field's message.
func TestProtocolAuditArguments(t *testing.T) {
	var runs atomic.Int64
	c := dialRaw(t, protoAuditServer(t, &runs))
	r := c.call(request(1, "Audit.Nested", []any{"bob"}))
	assert.Equal(t, "bob", field(t, r.result, "Name"), "[x] with x not a map, an array or nil: x is the first field")
	r = c.call(request(2, "Audit.Nested", []any{"n", []any{7}}))
	assert.EqualValues(t, 7, field(t, field(t, r.result, "Opts"), "Limit"), "a nested struct as an array")
	r = c.call(request(3, "Audit.Nested", []any{"n", []any{7, 8}}, map[string]any{}))
	assert.EqualValues(t, 3, r.code(), "more params than a nested struct's fields: %v", r.err)
	assert.Equal(t, "Audit.Nested: argument 2 (Opts): too many values: want at most 1 (Limit), got 2", r.err)
	r = c.call(request(4, "Audit.Nested", []any{map[string]any{"Opts": map[string]any{"Limit": 300}}}, map[string]any{}))
	assert.EqualValues(t, 3, r.code())
	assert.Equal(t, "Audit.Nested: field Opts.Limit: want an integer from 0 to 255 (uint8), got 300", r.err)
	r = c.call(request(5, "Audit.Nested", []any{"n", map[string]any{"Limit": -1}}, map[string]any{}))
	assert.EqualValues(t, 3, r.code(), "a negative never fits an unsigned type: %v", r.err)
	r = c.call(request(6, "Audit.Nested", []any{7}, map[string]any{}))
	assert.EqualValues(t, 3, r.code(), "a number never fits a str: %v", r.err)
	r = c.call(request(7, "Audit.Nested", []any{[]byte("bin")}))
	assert.Equal(t, "bin", field(t, r.result, "Name"), "a bin fits a string")
}

// TestProtocolAuditCallStreamErrors checks PROTOCOL.md 5 on a session:
// "A message rejected for its size or nesting, and a protocol error, close
// the stream", and only the stream: the session goes on, and a stream
// opened without 0xc1 is one more independent call stream (section 1).
func TestProtocolAuditCallStreamErrors(t *testing.T) {
	var runs atomic.Int64
	addr := protoAuditServer(t, &runs)
	for _, tc := range []struct {
		name string
		msg  []byte
	}{
		{"declared size past 4 MiB", rawRequest([]byte{1}, str8("Echo.Echo"), append([]byte{0x91}, binHeader(docMaxMessage)...))},
		{"nesting 65", rawRequest([]byte{1}, str8("Echo.Echo"), nested(64, []byte{0x01}))},
		{"0xc1", []byte{0xc1}},
		{"wrong element count", enc([]any{0, 1, "Arith.Add"})},
		{"unknown type", enc([]any{5, 1, "Arith.Add", []any{}})},
		{"msgid 2^32", rawRequest([]byte{0xcf, 0, 0, 0, 1, 0, 0, 0, 0}, str8("Arith.Add"), []byte{0x90})},
		{"method an integer", enc([]any{0, 1, 7, []any{}})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := dialSession(t, addr)
			s.call.write(tc.msg)
			s.call.ended()
			other := s.open()
			r := parseResponse(t, other.read2(request(1, "Arith.Add", []any{2, 3}, map[string]any{})))
			assert.EqualValues(t, 5, r.result, "another call stream of the session is served")
		})
	}
	t.Run("SizeClasses", func(t *testing.T) {
		// Up to 4 MiB inclusive on a call stream; one byte more closes it.
		s := dialSession(t, addr)
		for i, total := range []int{1 << 10, 64 << 10, docMaxMessage - 1, docMaxMessage} {
			req := echoBinRequestExt(byte(i), total-echoOverhead-1)
			require.Len(t, req, total)
			raw := s.call.read2(req)
			require.Len(t, raw, 4, "message of %d bytes", total)
			assert.Len(t, raw[3], total-echoOverhead-1, "message of %d bytes", total)
		}
		req := echoBinRequestExt(9, docMaxMessage-echoOverhead)
		done := make(chan error, 1)
		go func() { _, err := s.call.st.Write(req); done <- err }()
		s.call.closedByServer()
		s.call.st.Close()
		<-done
		r := parseResponse(t, s.open().read2(request(1, "Arith.Add", []any{2, 3})))
		assert.EqualValues(t, 5, r.result)
	})
}

// TestProtocolAuditNestingMaps checks PROTOCOL.md 5's nesting limit with
// maps: "an argument may nest 62 arrays or maps deep; an empty array or map
// adds no level".
func TestProtocolAuditNestingMaps(t *testing.T) {
	var runs atomic.Int64
	addr := protoAuditServer(t, &runs)
	maps := func(k int, inner []byte) []byte {
		return append(bytes.Repeat([]byte{0x81, 0xa1, 'k'}, k), inner...)
	}
	c := dialRaw(t, addr)
	for i, arg := range [][]byte{maps(62, []byte{0x01}), maps(62, []byte{0x80}), maps(62, []byte{0x90}), maps(31, nested(31, []byte{0x80}))} {
		c.write(rawRequest([]byte{byte(i)}, str8("Echo.Echo"), append([]byte{0x91}, arg...)))
		assert.Equal(t, append([]byte{0x94, 0x01, byte(i), 0xc0}, arg...), c.readRaw(), "argument %d", i)
	}
	c.write(rawRequest([]byte{9}, str8("Echo.Echo"), append([]byte{0x91}, maps(63, []byte{0x01})...)))
	c.closedWithin(5 * time.Second)
}

// echoBinRequestExt is echoBinRequest with an empty ext map: n +
// echoOverhead + 1 bytes.
func echoBinRequestExt(msgid byte, n int) []byte {
	req := echoBinRequest(msgid, n)
	req[0] = 0x95
	return append(req, 0x80)
}

// toInt returns an integer of any msgpack width as an int64.
func toInt(t *testing.T, v any) int64 {
	t.Helper()
	switch x := v.(type) {
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int64:
		return x
	}
	u, ok := toUint(v)
	require.True(t, ok, "%T %v is not an integer", v, v)
	return int64(u)
}

// field returns m[key] for a decoded msgpack map m.
func field(t *testing.T, m any, key string) any {
	t.Helper()
	mm, ok := m.(map[string]any)
	require.True(t, ok, "%T %v is not a map", m, m)
	return mm[key]
}

// closedByServer asserts the server closes the stream without sending
// anything, while the test's side stays open.
func (st *wireStream) closedByServer() {
	st.t.Helper()
	require.NoError(st.t, st.st.SetReadDeadline(time.Now().Add(10*time.Second)))
	n, err := io.Copy(io.Discard, st.r)
	require.NoError(st.t, err, "the stream ends (EOF)")
	require.Zero(st.t, n, "bytes the server sent before closing")
}

// TestProtocolAuditCancelSuppressesTheAnswer checks PROTOCOL.md 4: "No
// response is sent for a canceled request", even when its handler ignores
// the cancel and returns a result afterwards; and section 2: names starting
// with $ "can't be registered".
func TestProtocolAuditCancelSuppressesTheAnswer(t *testing.T) {
	s := server.New()
	require.NoError(t, arith.Register(s))
	release, started := make(chan struct{}), make(chan struct{}, 1)
	require.NoError(t, server.Handle(s, "Audit.Deaf", func(context.Context, *struct{}) (*bool, error) {
		started <- struct{}{}
		<-release // the context's end goes unheeded
		ok := true
		return &ok, nil
	}))
	for _, name := range []string{"$ferry.hello", "$Audit.X", "$"} {
		assert.Error(t, server.Handle(s, name, func(context.Context, *struct{}) (*bool, error) { return nil, nil }), name)
	}
	t.Cleanup(func() { s.Close() })
	ws := dialSession(t, listen(t, s))
	ws.call.write(request(2, "Audit.Deaf", []any{}, map[string]any{}))
	<-started
	ws.call.write(notification("$ferry.cancel", []any{2}, map[string]any{}))
	// The call stream is read in order: once Arith.Add is answered, the
	// cancel was read.
	r := parseResponse(t, ws.call.read2(request(3, "Arith.Add", []any{1, 2}, map[string]any{})))
	require.EqualValues(t, 3, r.msgid)
	close(release)
	// A handler counts as running until its response, if any, is queued.
	require.Eventually(t, func() bool {
		conns := s.Conns()
		return len(conns) == 1 && conns[0].Running == 0
	}, 5*time.Second, time.Millisecond)
	r = parseResponse(t, ws.call.read2(request(4, "Arith.Add", []any{2, 2}, map[string]any{})))
	assert.EqualValues(t, 4, r.msgid, "no response for the canceled request 2")
	assert.EqualValues(t, 4, r.result)
}
