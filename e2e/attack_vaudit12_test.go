package e2e_test

// Checks of SECURITY.md's bounds table and PROTOCOL.md 5 and 7 that no
// other test pinned end to end, from raw sockets against a real server on
// 127.0.0.1:0.

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// audit12Token is the token the authenticating servers here accept.
const audit12Token = "a-token-of-16-bytes-at-least"

// audit12Auth accepts audit12Token only.
func audit12Auth(_ context.Context, info ferry.AuthInfo) (any, error) {
	if info.Token != audit12Token {
		return nil, ferry.NewError(ferry.CodeUnauthenticated, "invalid token")
	}
	return "ok", nil
}

// audit12Opening is a streaming call's opening, 0xc1 then [0, 0, method,
// [str], {}], whose str param pads the request to n bytes.
func audit12Opening(method string, n int) []byte {
	head := rawRequest([]byte{0}, str8(method), []byte{0x91, 0xdb, 0, 0, 0, 0})
	pad := n - len(head) - 1 // the ext map
	head[len(head)-4], head[len(head)-3], head[len(head)-2], head[len(head)-1] = byte(pad>>24), byte(pad>>16), byte(pad>>8), byte(pad)
	msg := append(append(head, bytes.Repeat([]byte{'p'}, pad)...), 0x80)
	msg[0] = 0x95
	return append([]byte{0xc1}, msg...)
}

// audit12StreamEnd reads what the server sends on st until it ends the
// stream (EOF or a reset), for at most d, and returns the bytes it sent
// and how long the end took.
func audit12StreamEnd(t *testing.T, st *wireStream, d time.Duration) (int64, time.Duration) {
	t.Helper()
	start := time.Now()
	require.NoError(t, st.st.SetReadDeadline(start.Add(d)))
	n, err := io.Copy(io.Discard, st.r)
	var to interface{ Timeout() bool }
	require.False(t, errorsAsTimeout(err, &to) && to.Timeout(), "the server did not end the stream within %v", d)
	return n, time.Since(start)
}

// TestAudit12UnauthenticatedStreamOpening checks SECURITY.md's
// "unauthenticated connections: messages ≤ 4 KiB" row and PROTOCOL.md 7
// ("until $ferry.hello succeeds, messages are bounded to 4 KiB [...] and
// streaming calls are refused") on a session's other streams: a streaming
// call's opening request sent before the hello is bounded like every
// other message. One of 4 KiB is refused (unauthenticated, not executed);
// one past it closes the stream with no answer, whole or declared (the
// declared one at once, not after the stream's set-up time, 10 s), so
// that a peer that has not authenticated cannot make the server read
// megabytes on each of its streams.
func TestAudit12UnauthenticatedStreamOpening(t *testing.T) {
	addr := arithServer(t, server.WithAuth(audit12Auth))
	s := dialSessionNoHello(t, addr)

	st := s.open()
	msg := audit12Opening("Echo.Chat", 4<<10)
	require.Len(t, msg, 4<<10+1) // the marker byte and 4 KiB
	st.write(msg)
	_, r := st.status()
	assert.EqualValues(t, ferry.CodeUnauthenticated, r.code(), "an opening of 4 KiB: %v", r.err)
	assert.Equal(t, true, r.ext["n"])

	for _, n := range []int{4<<10 + 1, 64 << 10, 1<<20 - 1024} {
		st := s.open()
		st.write(audit12Opening("Echo.Chat", n))
		got, _ := audit12StreamEnd(t, st, 15*time.Second)
		assert.Zero(t, got, "an opening of %d bytes before the hello: closed, not read and answered", n)
	}

	// Declared past 4 KiB, 100 bytes sent: closed at the header.
	st = s.open()
	head := rawRequest([]byte{0}, str8("Echo.Chat"), append([]byte{0x91}, binHeader(1<<20)...))
	head[0] = 0x95
	st.write(append(append([]byte{0xc1}, head...), make([]byte, 100)...))
	got, took := audit12StreamEnd(t, st, 15*time.Second)
	assert.Zero(t, got)
	assert.Less(t, took, 5*time.Second, "closed at the declared length, not by the set-up deadline")

	// The session goes on: the hello with the token, then a streaming call
	// whose opening is past 4 KiB is served.
	r = parseResponse(t, s.call.read2(request(1, "$ferry.hello", []any{map[string]any{"token": audit12Token}}, map[string]any{})))
	require.Nil(t, r.err)
	st = s.open()
	st.write(audit12Opening("Echo.Chat", 64<<10+1), frame("hi"), closeSend)
	msgs, r := st.status()
	assert.Nil(t, r.err)
	assert.Equal(t, []any{"hi"}, msgs)
}
