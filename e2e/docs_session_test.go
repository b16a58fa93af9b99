package e2e_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// wireSession is a yamux session to a Ferry port on whose streams the test
// writes hand-built messages: a Ferry client without Ferry's client.
type wireSession struct {
	t    *testing.T
	sess *yamux.Session
	call *wireStream // the call stream, after the hello
}

// wireStream is one session stream.
type wireStream struct {
	t  *testing.T
	st *yamux.Stream
	r  *bufio.Reader
}

// dialSession opens a session and its call stream, and says hello.
func dialSession(t *testing.T, addr string) *wireSession {
	t.Helper()
	return dialSessionWith(t, addr, true)
}

func dialSessionWith(t *testing.T, addr string, hello bool) *wireSession {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	cfg := yamux.DefaultConfig()
	cfg.EnableKeepAlive = false
	cfg.LogOutput = io.Discard
	// The server refuses streams past its accept backlog (64, PROTOCOL.md
	// 8) that it has not yet accepted: open no more than that unacknowledged.
	cfg.AcceptBacklog = 64
	sess, err := yamux.Client(conn, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { sess.Close() })
	s := &wireSession{t: t, sess: sess}
	s.call = s.open()
	if !hello {
		return s
	}
	// PROTOCOL.md 4: the hello's answer is {"max": the server's limit}.
	s.call.write(request(1, "$ferry.hello", []any{map[string]any{}}, map[string]any{}))
	r := parseResponse(t, s.call.read())
	require.Nil(t, r.err)
	answer, ok := r.result.(map[string]any)
	require.True(t, ok, "the hello's answer is a map: %v", r.result)
	require.Len(t, answer, 1, "%v", answer)
	max, ok := toUint(answer["max"])
	require.True(t, ok, "%v", answer)
	require.GreaterOrEqual(t, max, uint64(1<<10), "the server's MaxMessageSize")
	return s
}

func (s *wireSession) open() *wireStream {
	s.t.Helper()
	st, err := s.sess.OpenStream()
	require.NoError(s.t, err)
	s.t.Cleanup(func() { st.Close() })
	return &wireStream{t: s.t, st: st, r: bufio.NewReader(st)}
}

// openCall opens a streaming call: 0xc1, then [0, 0, method, [], ext].
func (s *wireSession) openCall(method string) *wireStream {
	s.t.Helper()
	st := s.open()
	st.write(append([]byte{0xc1}, request(0, method, []any{}, map[string]any{})...))
	return st
}

func (st *wireStream) write(b ...[]byte) {
	st.t.Helper()
	require.NoError(st.t, st.st.SetWriteDeadline(time.Now().Add(10*time.Second)))
	for _, p := range b {
		_, err := st.st.Write(p)
		require.NoError(st.t, err)
	}
}

// writeLast writes b, the last thing the server waits for before it may
// close the session: yamux may then report ErrSessionShutdown for a frame
// it did write (its send and its shutdown race in waitForSendErr), so
// that error is accepted, and what follows must show the write landed.
func (st *wireStream) writeLast(b []byte) {
	st.t.Helper()
	require.NoError(st.t, st.st.SetWriteDeadline(time.Now().Add(10*time.Second)))
	if _, err := st.st.Write(b); !errors.Is(err, yamux.ErrSessionShutdown) {
		require.NoError(st.t, err)
	}
}

func (st *wireStream) read() []any {
	st.t.Helper()
	require.NoError(st.t, st.st.SetReadDeadline(time.Now().Add(10*time.Second)))
	var msg []any
	require.NoError(st.t, msgpack.NewDecoder(st.r).Decode(&msg))
	return msg
}

// status reads frames up to the final status and returns the [3] payloads
// before it and the status.
func (st *wireStream) status() ([]any, response) {
	st.t.Helper()
	var msgs []any
	for range 1000 {
		m := st.read()
		require.NotEmpty(st.t, m)
		if t, _ := toUint(m[0]); t == 3 {
			require.Len(st.t, m, 2, "a message frame: %v", m)
			msgs = append(msgs, m[1])
			continue
		}
		return msgs, parseResponse(st.t, m)
	}
	st.t.Fatal("no final status within 1000 frames")
	return nil, response{}
}

// ended closes the caller's side and asserts the server ends the stream:
// after its final status, the server closes its side once the caller has
// closed its own.
func (st *wireStream) ended() {
	st.t.Helper()
	require.NoError(st.t, st.st.Close())
	require.NoError(st.t, st.st.SetReadDeadline(time.Now().Add(10*time.Second)))
	n, err := io.Copy(io.Discard, st.r)
	require.NoError(st.t, err, "the stream ends (EOF)")
	require.Zero(st.t, n)
}

func frame(payload any) []byte { return enc([]any{3, payload}) }

var closeSend = []byte{0x91, 0x04}

// TestDocsSessionWire checks PROTOCOL.md sections 4 and 6 on the wire,
// against the example server: a session's call stream, and streaming calls
// as frames.
func TestDocsSessionWire(t *testing.T) {
	srv := startArith(t, buildArithServer(t))

	t.Run("CallStream", func(t *testing.T) {
		s := dialSession(t, srv.addr)
		r := parseResponse(t, s.call.read2(request(2, "Arith.Add", []any{3, 4}, map[string]any{})))
		assert.EqualValues(t, 7, r.result)
		r = parseResponse(t, s.call.read2(request(3, "Arith.Nope", []any{}, map[string]any{})))
		assert.EqualValues(t, 12, r.code())
		assert.Equal(t, true, r.ext["n"])
	})

	t.Run("ServerStreaming", func(t *testing.T) {
		// "A caller of a server-streaming method sends its request as one
		// [3, request], then [4], then reads."
		s := dialSession(t, srv.addr)
		st := s.openCall("Counter.Count")
		st.write(frame(3), closeSend)
		msgs, r := st.status()
		assert.Equal(t, []any{int8(1), int8(2), int8(3)}, msgs)
		assert.Nil(t, r.err)
		assert.EqualValues(t, 0, r.msgid)
		st.ended()
	})

	t.Run("Bidi", func(t *testing.T) {
		s := dialSession(t, srv.addr)
		st := s.openCall("Echo.Chat")
		for _, m := range []any{"a", int8(-1), map[string]any{"k": []any{"v"}}} {
			st.write(frame(m))
			got := st.read()
			assert.Equal(t, []any{int8(3), m}, got)
		}
		st.write(closeSend)
		msgs, r := st.status()
		assert.Empty(t, msgs)
		assert.Nil(t, r.err)
		st.ended()
	})

	t.Run("Refusals", func(t *testing.T) {
		// PROTOCOL.md 6: a stream opened to an unknown name is refused with
		// unimplemented and "n": true, like an unknown unary method; one
		// opened to a unary method gets unimplemented without the flag.
		s := dialSession(t, srv.addr)
		for _, name := range []string{"Nope.Nope", "echo.chat", "Echo.Chat ", "Arith.Add"} {
			st := s.openCall(name)
			msgs, r := st.status()
			assert.Empty(t, msgs, name)
			require.Equal(t, 5, r.n, name)
			assert.EqualValues(t, 12, r.code(), name)
			if name == "Arith.Add" {
				assert.NotContains(t, r.ext, "n", name)
			} else {
				assert.Equal(t, true, r.ext["n"], name)
			}
			st.ended()
		}
		// "Ferry's typed server helpers read exactly one request for a
		// server-streaming method (invalid_argument if the stream ends
		// without one ...)"; Counter.Count refuses n outside 0..1,000,000.
		for _, req := range [][]byte{closeSend, append(frame(-1), closeSend...), append(frame(1_000_001), closeSend...)} {
			st := s.openCall("Counter.Count")
			st.write(req)
			msgs, r := st.status()
			assert.Empty(t, msgs)
			assert.EqualValues(t, 3, r.code(), "% x: %v", req, r.err)
		}
	})

	t.Run("StreamMessageSizes", func(t *testing.T) {
		// "Each message is bounded by MaxMessageSize ... A server that
		// receives a frame over its limit stops reading the stream and ends
		// the call with the status resource_exhausted".
		s := dialSession(t, srv.addr)
		st := s.openCall("Echo.Chat")
		for _, n := range []int{1 << 10, 64 << 10, 1 << 20, docMaxMessage - 16} {
			payload := bytes.Repeat([]byte{'z'}, n)
			st.write(frame(payload))
			got := st.read()
			require.Len(t, got, 2, "%d bytes", n)
			assert.Equal(t, payload, got[1], "%d bytes", n)
		}
		// The server stops reading, so the write may block on the stream
		// window: write from another goroutine, and give up at the end.
		wrote := make(chan error, 1)
		go func() {
			_ = st.st.SetWriteDeadline(time.Now().Add(10 * time.Second))
			_, err := st.st.Write(frame(bytes.Repeat([]byte{'z'}, docMaxMessage+1)))
			wrote <- err
		}()
		_, r := st.status()
		assert.EqualValues(t, 8, r.code(), "resource_exhausted: %v", r.err)
		st.st.Close()
		<-wrote

		r = parseResponse(t, s.call.read2(request(9, "Arith.Add", []any{1, 1}, map[string]any{})))
		assert.EqualValues(t, 2, r.result, "the session stays usable")
	})

	t.Run("MalformedFrames", func(t *testing.T) {
		// PROTOCOL.md 6: a frame that is none of [3, payload] and [4] is a
		// protocol error: the final status internal, then the stream ends.
		s := dialSession(t, srv.addr)
		for _, bad := range [][]byte{enc([]any{7}), enc([]any{3}), enc([]any{4, 1}), enc(5), {0xc1}, enc([]any{0, 1, "Echo.Chat", []any{}})} {
			st := s.openCall("Echo.Chat")
			st.write(frame("a"), bad)
			msgs, r := st.status()
			assert.Equal(t, []any{"a"}, msgs)
			assert.EqualValues(t, 13, r.code(), "% x: %v", bad, r.err)
			assert.Contains(t, r.err, "protocol error", "% x", bad)
			st.ended()
		}
	})

	t.Run("StreamDeadline", func(t *testing.T) {
		// "The opening request's "t" is the caller's remaining time ... the
		// server ... ends the handler's context with DeadlineExceeded, sends
		// the status deadline_exceeded ... and closes."
		s := dialSession(t, srv.addr)
		st := s.open()
		st.write(append([]byte{0xc1}, request(0, "Echo.Chat", []any{}, map[string]any{"t": int64(100 * time.Millisecond)})...))
		st.write(frame("a"))
		msgs, r := st.status()
		assert.Equal(t, []any{"a"}, msgs)
		assert.EqualValues(t, 4, r.code(), "deadline_exceeded: %v", r.err)
		st.ended()
	})

	t.Run("StreamCancel", func(t *testing.T) {
		// "a server that sees the stream close before the caller's [4]
		// treats the call as canceled ... and sends no status", and
		// $ferry.cancelstream [stream id] cancels the call likewise.
		s := dialSession(t, srv.addr)
		st := s.openCall("Echo.Chat")
		st.write(frame("a"))
		assert.Equal(t, []any{int8(3), "a"}, st.read())
		st.ended() // closes the caller's side first: no status, then EOF

		st = s.openCall("Echo.Chat")
		st.write(frame("b"))
		assert.Equal(t, []any{int8(3), "b"}, st.read())
		s.call.write(notification("$ferry.cancelstream", []any{st.st.StreamID()}, map[string]any{}))
		require.NoError(t, st.st.SetReadDeadline(time.Now().Add(10*time.Second)))
		n, err := io.Copy(io.Discard, st.r)
		assert.NoError(t, err, "the server ends the canceled stream")
		assert.Zero(t, n, "and sends no status")
	})

	t.Run("TooDeepFrame", func(t *testing.T) {
		// PROTOCOL.md 5: nesting deeper than 64 is rejected; on a streaming
		// call the stream ends after a final status.
		s := dialSession(t, srv.addr)
		st := s.openCall("Echo.Chat")
		ok := append([]byte{0x92, 0x03}, nested(63, []byte{0x01})...) // [3, 63 arrays]: 64 levels
		st.write(ok)
		got := st.read()
		require.Len(t, got, 2)
		st.write(append([]byte{0x92, 0x03}, nested(64, []byte{0x01})...))
		msgs, r := st.status()
		assert.Empty(t, msgs)
		assert.EqualValues(t, 8, r.code(), "resource_exhausted, like a frame over the size limit: %v", r.err)
		st.ended()
	})

	t.Run("NotAnArrayClosesTheCallStream", func(t *testing.T) {
		// "A protocol error closes the stream."
		s := dialSession(t, srv.addr)
		s.call.write([]byte{0x80})
		s.call.ended()
		st := s.openCall("Counter.Count")
		st.write(frame(1), closeSend)
		msgs, _ := st.status()
		assert.Len(t, msgs, 1, "other streams of the session are served")
	})
}

// read2 writes req and reads the next message.
func (st *wireStream) read2(req []byte) []any {
	st.t.Helper()
	st.write(req)
	return st.read()
}

// TestDocsMaxStreams checks PROTOCOL.md 7 and SECURITY.md against the
// example server: "At most MaxStreams (1,024) streams are served at once;
// more are refused as they arrive, unread: each is answered with a
// streaming call's final status, resource_exhausted, "n": true, … and
// closed", and the session keeps serving the others.
func TestDocsMaxStreams(t *testing.T) {
	const maxStreams = 1024
	srv := startArith(t, buildArithServer(t))
	s := dialSession(t, srv.addr) // the call stream is one of them
	var chats []*wireStream
	for i := range maxStreams - 1 {
		st := s.open()
		_, err := st.st.Write(append(append([]byte{0xc1}, request(0, "Echo.Chat", []any{}, map[string]any{})...), frame(i)...))
		require.NoError(t, err, "stream %d", i)
		chats = append(chats, st)
	}
	for i, st := range chats {
		got := st.read()
		require.Len(t, got, 2, "stream %d", i)
		require.EqualValues(t, i, got[1], "stream %d is served", i)
	}
	extraSt, err := s.sess.OpenStream()
	require.NoError(t, err)
	defer extraSt.Close()
	extra := &wireStream{t: t, st: extraSt, r: bufio.NewReader(extraSt)}
	_, err = extraSt.Write(append(append([]byte{0xc1}, request(0, "Echo.Chat", []any{}, map[string]any{})...), frame("more")...))
	t.Logf("writing on the stream past the bound: %v", err)
	msgs, refused := extra.status()
	assert.Empty(t, msgs, "nothing of the stream past the bound is read")
	assert.EqualValues(t, 8, refused.code(), "%v %v", refused.err, refused.ext)
	assert.Equal(t, true, refused.ext["n"], "not executed")
	require.NoError(t, extra.st.SetReadDeadline(time.Now().Add(10*time.Second)))
	n, err := io.Copy(io.Discard, extra.r)
	assert.Zero(t, n, "nothing follows the refusal")
	t.Logf("the stream past the bound: %v", err)
	var ne interface{ Timeout() bool }
	if errorsAsTimeout(err, &ne) {
		t.Fatal("the stream past the bound was not closed")
	}

	// The others are still served; once one ends, a new stream is served.
	r := parseResponse(t, s.call.read2(request(2, "Arith.Add", []any{1, 2}, map[string]any{})))
	assert.EqualValues(t, 3, r.result)
	chats[0].write(closeSend)
	_, r = chats[0].status()
	assert.Nil(t, r.err)
	chats[0].ended()
	var served bool
	for range 100 { // the server may not have seen the close yet
		st := s.open()
		_, _ = st.st.Write(append(append([]byte{0xc1}, request(0, "Echo.Chat", []any{}, map[string]any{})...), frame("again")...))
		require.NoError(t, st.st.SetReadDeadline(time.Now().Add(10*time.Second)))
		var msg []any
		if msgpack.NewDecoder(st.r).Decode(&msg) == nil {
			assert.Equal(t, []any{int8(3), "again"}, msg)
			served = true
			break
		}
	}
	assert.True(t, served, "a stream is served once another ended")
}

func errorsAsTimeout(err error, target *interface{ Timeout() bool }) bool {
	if err == nil {
		return false
	}
	return errors.As(err, target) && (*target).Timeout()
}
