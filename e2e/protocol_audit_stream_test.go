package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/auth"
	"github.com/ferryrpc/ferry/internal/testsvc"
	"github.com/ferryrpc/ferry/pubsub"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestProtocolAuditStreams checks PROTOCOL.md 6 on raw session streams:
// the kinds, the final status and the stream's end, refusals before a
// handler runs.
func TestProtocolAuditStreams(t *testing.T) {
	var runs atomic.Int64
	addr := protoAuditServer(t, &runs)

	t.Run("ClientStreamingSendsOnlyTheResult", func(t *testing.T) {
		// "Ferry's typed server helpers ... send only the final result for a
		// client-streaming one": no [3] frame, the result in the status.
		s := dialSession(t, addr)
		st := s.openCall("Audit.Sum")
		st.write(frame(1), frame(2), frame(39), closeSend)
		msgs, r := st.status()
		assert.Empty(t, msgs)
		assert.Nil(t, r.err)
		assert.EqualValues(t, 42, r.result)
		assert.EqualValues(t, 0, r.msgid)
		assert.Equal(t, 4, r.n, "encoded as a unary call's response: a success has no ext")
		st.ended()
	})

	t.Run("ServerStreamingReadsOneRequest", func(t *testing.T) {
		// "read exactly one request for a server-streaming method (... later
		// messages are never read)".
		s := dialSession(t, addr)
		st := s.openCall("Counter.Count")
		st.write(frame(2), frame(5), frame("not a number"), closeSend)
		msgs, r := st.status()
		assert.Equal(t, []any{int8(1), int8(2)}, msgs)
		assert.Nil(t, r.err)
		st.ended()
	})

	t.Run("ServerClosesAfterTheCaller", func(t *testing.T) {
		// "nothing follows it, and the server closes its side of the stream
		// once the caller has closed its own": until then, reads wait.
		s := dialSession(t, addr)
		st := s.openCall("Counter.Count")
		st.write(frame(1), closeSend)
		msgs, r := st.status()
		require.Len(t, msgs, 1)
		require.Nil(t, r.err)
		require.NoError(t, st.st.SetReadDeadline(time.Now().Add(300*time.Millisecond)))
		_, err := st.r.ReadByte()
		var ne interface{ Timeout() bool }
		assert.True(t, errorsAsTimeout(err, &ne), "the server keeps its side open while the caller's is: %v", err)
		st.ended()
	})

	t.Run("MalformedOpeningExt", func(t *testing.T) {
		// Section 3: "An ext that is not a map, or whose keys are not str or
		// whose known keys hold the wrong types, gets invalid_argument
		// ("malformed extensions") and the handler does not run", and a
		// stream's final status "is encoded exactly as a unary call's
		// response": no "n" flag.
		s := dialSession(t, addr)
		before := runs.Load()
		for _, ext := range []any{5, map[int]any{1: 1}, map[string]any{"t": "soon"}, map[string]any{"m": []any{"k"}}} {
			st := s.open()
			st.write(append([]byte{0xc1}, enc([]any{0, 0, "Audit.Sum", []any{}, ext})...), frame(1), closeSend)
			msgs, r := st.status()
			assert.Empty(t, msgs, "%v", ext)
			assert.EqualValues(t, 3, r.code(), "%v: %v", ext, r.err)
			assert.Contains(t, r.err, "malformed extensions", "%v", ext)
			assert.NotContains(t, r.ext, "n", "%v", ext)
			st.ended()
		}
		assert.Equal(t, before, runs.Load(), "no handler ran")
	})

	t.Run("OtherFrames", func(t *testing.T) {
		// "Any other frame ... is a protocol error: ... the status internal
		// ("protocol error: …")": here a [3] with one element too many.
		s := dialSession(t, addr)
		st := s.openCall("Echo.Chat")
		st.write(enc([]any{3, "a", "b"}))
		msgs, r := st.status()
		assert.Empty(t, msgs)
		assert.EqualValues(t, 13, r.code(), "%v", r.err)
		assert.Contains(t, r.err, "protocol error")
		st.ended()
	})
}

// TestProtocolAuditStreamRefusals checks PROTOCOL.md 3 and 6: a call refused
// by the concurrency limit, unary or streaming, is resource_exhausted with
// "n": true; a stream a stream interceptor refuses carries the
// interceptor's code and "n": true; no handler runs.
func TestProtocolAuditStreamRefusals(t *testing.T) {
	var runs atomic.Int64
	refuse := func(ctx context.Context, info *ferry.StreamInfo, st ferry.ServerStream, next ferry.StreamHandler) (any, error) {
		if info.Method == "Audit.Sum" {
			return nil, ferry.NewError(ferry.CodePermissionDenied, "no sums")
		}
		return next(ctx, st)
	}
	s := server.New(server.WithMaxConcurrentCalls(1), server.WithStreamInterceptors(refuse))
	release, started := holdCalls(t, s)
	require.NoError(t, server.Handle(s, "Audit.Count", func(context.Context, *struct{}) (*int64, error) {
		n := runs.Add(1)
		return &n, nil
	}))
	require.NoError(t, server.HandleClientStream(s, "Audit.Sum", func(_ context.Context, recv func() (*int, error)) (*int, error) {
		runs.Add(1)
		return new(int), nil
	}))
	require.NoError(t, server.HandleBidi(s, "Audit.Chat", func(ctx context.Context, st *server.BidiStream[int, int]) error {
		runs.Add(1)
		return nil
	}))
	t.Cleanup(func() { s.Close() })
	ws := dialSession(t, listen(t, s))

	st := ws.openCall("Audit.Sum")
	_, r := st.status()
	assert.EqualValues(t, 7, r.code(), "the interceptor's code: %v", r.err)
	assert.Equal(t, true, r.ext["n"])
	st.ended()

	ws.call.write(request(2, "Hold.Hold", []any{nil}, map[string]any{}))
	<-started
	ws.call.write(request(3, "Audit.Count", []any{}, map[string]any{})) // queued
	r = parseResponse(t, ws.call.read2(request(4, "Audit.Count", []any{}, map[string]any{})))
	assert.EqualValues(t, 4, r.msgid)
	assert.EqualValues(t, 8, r.code(), "past the limit and its queue: %v", r.err)
	assert.Equal(t, true, r.ext["n"])
	st = ws.openCall("Audit.Chat")
	_, r = st.status()
	assert.EqualValues(t, 8, r.code(), "a stream never queues: %v", r.err)
	assert.Equal(t, true, r.ext["n"])
	st.ended()
	assert.Zero(t, runs.Load(), "no handler ran")

	close(release)
	for range 2 {
		r = parseResponse(t, ws.call.read())
		assert.Nil(t, r.err, "msgid %d", r.msgid)
	}
	assert.EqualValues(t, 1, runs.Load(), "the queued call ran")
}

// TestProtocolAuditClientServesStreams checks PROTOCOL.md 6, "Either side
// opens", on the client's side: a stream the server opens to a name the
// client did not register is refused with unimplemented and "n": true, as
// the server refuses one, though the client serves other streams.
func TestProtocolAuditClientServesStreams(t *testing.T) {
	s, peers := peerServer(t)
	c := dialTCP(t, s)
	clientFeeds(t, c)
	var sum int64
	require.NoError(t, c.Call(t.Context(), "Arith.Add", testsvc.Args{A: 1, B: 2}, &sum))
	p := <-peers
	st, err := p.NewStream(t.Context(), "Feed.Nope")
	require.NoError(t, err)
	defer st.Close()
	err = st.Recv(nil)
	assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err), "%v", err)
}

// TestProtocolAuditPubSubDisconnect checks PROTOCOL.md 9 on the wire:
// "When the broker disconnects a slow subscriber, the final status is
// resource_exhausted with the detail "dropped": the final count, which
// includes the message that overflowed and those still queued", with the
// policy 3 (disconnect) and a queue of 1, asked for in the request.
func TestProtocolAuditPubSubDisconnect(t *testing.T) {
	s := server.New()
	t.Cleanup(func() { s.Close() })
	require.NoError(t, pubsub.NewBroker().Register(s))
	ws := dialSession(t, listen(t, s))
	sub := ws.openCall("PubSub.Subscribe")
	sub.write(frame(map[string]any{"topic": "t", "policy": 3, "queue": 1}), closeSend)
	first := sub.read()
	require.Len(t, first, 2)
	assert.NotEmpty(t, field(t, first[1], "id"), "the first batch carries the ID")

	// The subscriber reads nothing: once the stream window (256 KiB) is
	// full, its queue of 1 overflows.
	data := make([]byte, 64<<10)
	queued := 0
	overflowed := false
	for i := range 64 {
		r := parseResponse(t, ws.call.read2(request(uint32(10+i), "PubSub.Publish", []any{map[string]any{"topic": "t", "data": data}}, map[string]any{})))
		require.Nil(t, r.err)
		if toInt(t, r.result) == 0 {
			overflowed = true
			break
		}
		queued++
	}
	require.True(t, overflowed, "the queue overflowed within 64 messages")
	msgs, r := sub.status()
	delivered := 0
	for _, m := range msgs {
		batch, _ := field(t, m, "m").([]any)
		delivered += len(batch)
	}
	t.Logf("%d queued, %d delivered", queued, delivered)
	assert.EqualValues(t, 8, r.code(), "resource_exhausted: %v", r.err)
	assert.Equal(t, map[string]any{"dropped": fmt.Sprint(queued - delivered + 1)}, r.ext["d"],
		"%d queued, %d delivered, and the one that overflowed", queued, delivered)
	sub.ended()
}

// TestProtocolAuditAuthorization checks PROTOCOL.md 4 and 7 on the wire:
// the hello's answer, and "one an authorization policy refuses gets
// permission_denied; [it carries] ext "n": true, and no handler runs", for
// a unary call and a stream.
func TestProtocolAuditAuthorization(t *testing.T) {
	policy, err := auth.NewPolicy(auth.Rule{Identity: "alice", Allow: []string{"Arith.*"}})
	require.NoError(t, err)
	var runs atomic.Int64
	addr := protoAuditServer(t, &runs,
		server.WithAuth(func(_ context.Context, info ferry.AuthInfo) (any, error) {
			switch info.Token {
			case "alice-token-of-16-bytes":
				return "alice", nil
			case "banned-token-of-16-bytes":
				return nil, ferry.NewError(ferry.CodePermissionDenied, "banned")
			}
			return nil, errors.New("who?")
		}),
		server.WithInterceptors(policy.Interceptor()),
		server.WithStreamInterceptors(policy.StreamInterceptor()))
	// Section 4: the hello is answered {} or the check's error, not
	// executed: unauthenticated when the error carries no code.
	ws := dialSessionNoHello(t, addr)
	r := parseResponse(t, ws.call.read2(request(1, "$ferry.hello", []any{map[string]any{"token": "nobody"}}, map[string]any{})))
	assert.EqualValues(t, 16, r.code(), "%v", r.err)
	assert.Equal(t, true, r.ext["n"])
	r = parseResponse(t, ws.call.read2(request(2, "$ferry.hello", []any{map[string]any{"token": "banned-token-of-16-bytes"}}, map[string]any{})))
	assert.EqualValues(t, 7, r.code(), "%v", r.err)
	assert.Equal(t, true, r.ext["n"])
	r = parseResponse(t, ws.call.read2(request(1, "$ferry.hello", []any{map[string]any{"token": "alice-token-of-16-bytes"}}, map[string]any{})))
	require.Nil(t, r.err)
	assert.EqualValues(t, map[string]any{"max": uint32(4 << 20)}, r.result, "the server's MaxMessageSize (PROTOCOL.md 4)")
	r = parseResponse(t, ws.call.read2(request(2, "Arith.Add", []any{1, 2}, map[string]any{})))
	assert.EqualValues(t, 3, r.result)
	r = parseResponse(t, ws.call.read2(request(3, "Audit.Count", []any{}, map[string]any{})))
	assert.EqualValues(t, 7, r.code(), "permission_denied: %v", r.err)
	assert.Equal(t, true, r.ext["n"])
	st := ws.openCall("Audit.Sum")
	_, r = st.status()
	assert.EqualValues(t, 7, r.code(), "permission_denied: %v", r.err)
	assert.Equal(t, true, r.ext["n"])
	st.ended()
	assert.Zero(t, runs.Load(), "no handler ran")
}
