package e2e_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/hashicorp/yamux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeServer is a Ferry server written from PROTOCOL.md alone: a yamux
// session whose call stream the test reads and writes message by message,
// to see what the Ferry client sends.
type fakeServer struct {
	t    *testing.T
	sess *yamux.Session
	call *wireStream
	read int // the requests read on the call stream, the hello included
}

// dialFake starts a Ferry client against a fake server, answers its hello
// and returns both. hello receives the hello as the client sent it.
func dialFake(t *testing.T, opts ...client.Option) (*client.Client, *fakeServer, []any) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	type dialed struct {
		c   *client.Client
		err error
	}
	done := make(chan dialed, 1)
	go func() {
		c, err := client.Dial(t.Context(), l.Addr().String(), opts...)
		done <- dialed{c, err}
	}()
	conn, err := l.Accept()
	require.NoError(t, err)
	cfg := yamux.DefaultConfig()
	cfg.EnableKeepAlive = false
	cfg.LogOutput = io.Discard
	sess, err := yamux.Server(conn, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { sess.Close() })
	st, err := sess.AcceptStream()
	require.NoError(t, err)
	f := &fakeServer{t: t, sess: sess, call: &wireStream{t: t, st: st, r: bufio.NewReader(st)}}
	hello := f.next()
	require.Len(t, hello, 5, "the hello: %v", hello)
	f.call.write(enc([]any{1, hello[1], nil, map[string]any{}}))
	d := <-done
	require.NoError(t, d.err)
	t.Cleanup(func() { d.c.Close() })
	return d.c, f, hello
}

// next reads the client's next message on the call stream.
func (f *fakeServer) next() []any {
	f.t.Helper()
	m := f.call.read()
	require.NotEmpty(f.t, m)
	if typ, _ := toUint(m[0]); typ == 0 {
		f.read++
	}
	return m
}

// TestProtocolAuditClientOnTheWire checks what PROTOCOL.md says a Ferry
// client sends, from a fake server: the hello, requests and their ext,
// $ferry.cancel and its absence when a deadline passes, how it reads an
// error's ext, $ferry.settled after $ferry.goaway, $ferry.drained when it
// closes, and that it closes a stream the server opens without 0xc1.
func TestProtocolAuditClientOnTheWire(t *testing.T) {
	c, f, hello := dialFake(t)

	// Section 4: [0, msgid, "$ferry.hello", [{"token": str, "settle": bool, "max": uint}], ext].
	assert.EqualValues(t, 0, hello[0])
	assert.Equal(t, "$ferry.hello", hello[2])
	params, ok := hello[3].([]any)
	require.True(t, ok && len(params) == 1, "hello params %v", hello[3])
	hm, ok := params[0].(map[string]any)
	require.True(t, ok, "hello params %v", params)
	for k := range hm {
		assert.Contains(t, []string{"token", "settle", "max"}, k)
	}
	max, ok := toUint(hm["max"])
	assert.True(t, ok && max == 4<<20, "the client's MaxMessageSize (section 4, \"Message size limits\"): %v", hm["max"])
	assert.IsType(t, map[string]any{}, hello[4], "an ext map")
	assert.Equal(t, true, hm["settle"], "a Ferry client settles after a go-away (section 4, step 2)")

	// Section 2: params [args], [] for nil, client.Params as the array;
	// section 3: "t" the remaining time, "m" the metadata.
	ctx, cancel := context.WithTimeout(ferry.WithOutgoingMetadata(t.Context(), ferry.Metadata{"k": "v"}), time.Minute)
	defer cancel()
	for _, tc := range []struct {
		args   any
		params []any
	}{
		{map[string]int{"A": 1}, []any{map[string]any{"A": int8(1)}}},
		{nil, []any{}},
		{client.Params{1, "b", nil}, []any{int8(1), "b", nil}},
	} {
		call := c.Go(ctx, "S.M", tc.args, nil)
		m := f.next()
		require.Len(t, m, 5, "%v", m)
		assert.Equal(t, "S.M", m[2])
		assert.Equal(t, tc.params, m[3], "%v", tc.args)
		ext, _ := m[4].(map[string]any)
		left := toInt(t, ext["t"])
		assert.Greater(t, left, int64(50*time.Second), "t: %v", ext)
		assert.LessOrEqual(t, left, int64(time.Minute))
		assert.Equal(t, map[string]any{"k": "v"}, ext["m"])
		f.call.write(enc([]any{1, m[1], nil, true}))
		require.NoError(t, call.Wait())
	}

	// Section 4: a caller that gives up sends $ferry.cancel [msgid]...
	cctx, ccancel := context.WithCancel(t.Context())
	call := c.Go(cctx, "S.Slow", nil, nil)
	m := f.next()
	ccancel()
	require.ErrorIs(t, call.Wait(), context.Canceled)
	cm := f.next()
	assert.EqualValues(t, 2, cm[0], "a notification: %v", cm)
	assert.Equal(t, "$ferry.cancel", cm[1])
	assert.Equal(t, []any{m[1]}, cm[2])
	// ... but one whose deadline passed sends nothing.
	dctx, dcancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer dcancel()
	call = c.Go(dctx, "S.Slow", nil, nil)
	f.next()
	assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(call.Wait()))
	call = c.Go(t.Context(), "S.After", nil, nil)
	m = f.next()
	assert.Equal(t, "S.After", m[2], "no $ferry.cancel before it: %v", m)

	// Section 3: the response ext's code, details and flag.
	f.call.write(enc([]any{1, m[1], "gone", nil, map[string]any{"c": 5, "d": map[string]string{"k": "v"}, "n": true, "later": 1}}))
	err := call.Wait()
	var fe *ferry.Error
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, ferry.CodeNotFound, fe.Code)
	assert.Equal(t, "gone", fe.Message)
	assert.Equal(t, map[string]string{"k": "v"}, fe.Details)
	assert.True(t, ferry.NotExecuted(err))

	// Section 6: a stream from the server that does not start with 0xc1
	// is closed.
	st, err := f.sess.OpenStream()
	require.NoError(t, err)
	_, err = st.Write(enc([]any{0, 1, "C.M", []any{}, map[string]any{}}))
	require.NoError(t, err)
	require.NoError(t, st.SetReadDeadline(time.Now().Add(10*time.Second)))
	n, err := io.Copy(io.Discard, st)
	assert.Zero(t, n)
	var ne interface{ Timeout() bool }
	assert.False(t, errorsAsTimeout(err, &ne), "the client closed the stream: %v", err)

	// A request from the server, answered (unimplemented, not executed):
	// the client received one request on its call stream.
	f.call.write(request(77, "C.Nope", []any{}, map[string]any{}))
	r := parseResponse(t, f.next())
	assert.EqualValues(t, 77, r.msgid)
	assert.EqualValues(t, 12, r.code())
	assert.Equal(t, true, r.ext["n"])

	// Section 4, "Going away": after $ferry.goaway, new calls fail at
	// once, not executed, and a client that promised to settle says so.
	f.call.write(notification("$ferry.goaway", []any{}))
	m = f.next()
	assert.Equal(t, []any{int8(2), "$ferry.settled", []any{}}, m[:3])
	err = c.Call(t.Context(), "S.M", nil, nil)
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err), "%v", err)

	// "Either side sends $ferry.drained when it closes a call stream that
	// is still intact (a Ferry client does too)": n = 1, the server's
	// request.
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	m = f.next()
	assert.Equal(t, []any{int8(2), "$ferry.drained", []any{int8(1)}}, m[:3])
	f.call.ended()
	require.NoError(t, <-closed)
}

// TestProtocolAuditClientDrained checks PROTOCOL.md 4, "Going away", step
// 4 with a fake server: "On $ferry.drained [n] it fails every call
// numbered above n ... at once with unavailable, not executed ... if the
// stream ends without their answer, their outcome is unknown (unavailable,
// not flagged)."
func TestProtocolAuditClientDrained(t *testing.T) {
	c, f, _ := dialFake(t)
	var calls []*ferry.Call
	for range 4 {
		calls = append(calls, c.Go(t.Context(), "S.Slow", nil, nil))
		f.next()
	}
	require.Equal(t, 5, f.read, "the hello and four calls")
	// The server read the hello and the first two calls: requests 1 to 3.
	f.call.write(notification("$ferry.drained", []any{3}))
	for i, call := range calls[2:] {
		err := call.Wait()
		assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "call %d: %v", i+2, err)
		assert.True(t, ferry.NotExecuted(err), "call %d: %v", i+2, err)
	}
	for i, call := range calls[:2] {
		select {
		case <-call.Done():
			t.Fatalf("call %d ended before the stream: %v", i, call.Err())
		default:
		}
	}
	err := c.Call(t.Context(), "S.M", nil, nil)
	assert.True(t, ferry.NotExecuted(err), "a new call is not sent: %v", err)
	require.NoError(t, f.call.st.Close())
	for i, call := range calls[:2] {
		err := call.Wait()
		assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "call %d: %v", i, err)
		assert.False(t, ferry.NotExecuted(err), "call %d: outcome unknown", i)
	}
}

// acceptCall accepts the next session stream the client opens and reads
// its marker byte and opening request.
func (f *fakeServer) acceptCall() (*wireStream, []any) {
	f.t.Helper()
	st, err := f.sess.AcceptStream()
	require.NoError(f.t, err)
	ws := &wireStream{t: f.t, st: st, r: bufio.NewReader(st)}
	require.NoError(f.t, st.SetReadDeadline(time.Now().Add(10*time.Second)))
	b, err := ws.r.ReadByte()
	require.NoError(f.t, err)
	require.Equal(f.t, byte(0xc1), b, "a streaming call's first byte")
	return ws, ws.read()
}

// TestProtocolAuditClientStreams checks PROTOCOL.md 6 from a fake server:
// the opening request [0, 0, method, [], ext] with the caller's "t"; the
// caller's cancel ($ferry.cancelstream [stream id] on the call stream,
// then, as a Recv was waiting, the stream closes); and at its deadline, no cancel: the caller
// waits for the server's status and reports deadline_exceeded.
func TestProtocolAuditClientStreams(t *testing.T) {
	c, f, _ := dialFake(t)

	ctx, cancel := context.WithCancel(t.Context())
	st, err := c.NewStream(ctx, "S.Chat")
	require.NoError(t, err)
	defer st.Close()
	ws, open := f.acceptCall()
	require.Len(t, open, 5, "%v", open)
	assert.Equal(t, []any{int8(0), int8(0), "S.Chat", []any{}}, open[:4])
	require.NoError(t, st.Send("a"))
	assert.Equal(t, []any{int8(3), "a"}, ws.read())
	recv := make(chan error, 1)
	go func() { recv <- st.Recv(nil) }()
	cancel()
	assert.ErrorIs(t, <-recv, context.Canceled)
	m := f.next()
	assert.Equal(t, []any{int64(2), "$ferry.cancelstream", []any{int64(ws.st.StreamID())}}, normalizeInts(m[:3]))
	require.NoError(t, ws.st.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = io.Copy(io.Discard, ws.r)
	assert.NoError(t, err, "the caller closes the stream")

	dctx, dcancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer dcancel()
	st, err = c.NewStream(dctx, "S.Chat")
	require.NoError(t, err)
	defer st.Close()
	ws, open = f.acceptCall()
	ext, _ := open[4].(map[string]any)
	left := toInt(t, ext["t"])
	assert.Greater(t, left, int64(0))
	assert.LessOrEqual(t, left, int64(300*time.Millisecond), "t: the caller's remaining time")
	got := make(chan error, 1)
	go func() { got <- st.Recv(nil) }()
	<-dctx.Done()
	// The server's deadline passes a moment later: its status comes
	// within the caller's 2 s.
	ws.write(enc([]any{1, 0, "deadline exceeded", nil, map[string]any{"c": 4}}))
	assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(<-got))
	call := c.Go(t.Context(), "S.After", nil, nil)
	m = f.next()
	assert.Equal(t, "S.After", m[2], "no $ferry.cancelstream when a deadline passes: %v", m)
	f.call.write(enc([]any{1, m[1], nil, true}))
	require.NoError(t, call.Wait())
}

// normalizeInts returns v with every integer as an int64, so that values
// decoded in different widths compare equal.
func normalizeInts(v []any) []any {
	out := make([]any, len(v))
	for i, x := range v {
		switch y := x.(type) {
		case []any:
			out[i] = normalizeInts(y)
		default:
			if n, ok := toUint(x); ok {
				out[i] = int64(n)
			} else {
				out[i] = x
			}
		}
	}
	return out
}
