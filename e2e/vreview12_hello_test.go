package e2e_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestVreview12HelloStreamClosed: a server that closes or resets the
// session's first stream without answering the hello, the session left
// open (what a Ferry server at its memory budget, or going away, does),
// fails Dial as a server that closed the stream, not as one whose answer
// "broke the protocol (is it a Ferry server?)", which is what a malformed
// answer still gets. Both are unavailable and not executed, and neither
// message says "the call may or may not have executed".
func TestVreview12HelloStreamClosed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(id uint64) []byte
		want   string
	}{
		{"closed", func(uint64) []byte { return yamuxFrame(v14Window, v14ACK|v14FIN, 1, 0) }, "closed the session's first stream without answering the hello"},
		{"reset", func(uint64) []byte { return yamuxFrame(v14Window, v14ACK|8, 1, 0) }, "closed the session's first stream without answering the hello"},
		{"malformed", func(id uint64) []byte {
			return append(yamuxFrame(v14Window, v14ACK, 1, 0), dataFrame(1, 0, enc([]any{1, id}))...)
		}, "broke the protocol"},
		{"0xc1", func(uint64) []byte {
			return append(yamuxFrame(v14Window, v14ACK, 1, 0), dataFrame(1, 0, []byte{0xc1})...)
		}, "broke the protocol"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := v14Listen(t)
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			done := v14DialOnly(ctx, l, client.WithConfig(v14Config()))
			h := v14Accept(t, l)
			id, _ := h.request()
			h.must(tc.answer(id))
			go h.drain()
			d := v14Dialt(t, done)
			t.Logf("%s: %v", tc.name, d.err)
			require.Error(t, d.err)
			assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(d.err))
			assert.True(t, ferry.NotExecuted(d.err))
			assert.Contains(t, d.err.Error(), tc.want)
			assert.NotContains(t, d.err.Error(), "may or may not have executed")
		})
	}
}

// TestVreview12NewSilentServer: client.New bounds its handshake by
// StreamOpenTimeout, and so does the session the stream's acknowledgement:
// against a server that never acknowledges the stream both end at once.
// Whichever comes first, Dial's error is a session-handshake error, not
// executed, saying so: the open timeout, or that no answer came before
// ctx ended. When the session's end came with the deadline, it was the
// hello's own "the call's deadline passed", as if the server had answered
// (3 of 6 runs before the fix).
func TestVreview12NewSilentServer(t *testing.T) {
	before := []goleak.Option{goleak.IgnoreCurrent()}
	for i := range 12 {
		l := v14Listen(t)
		cfg := v14Config()
		cfg.StreamOpenTimeout = 100 * time.Millisecond
		conn, err := net.Dial("tcp", l.Addr().String())
		require.NoError(t, err)
		h := v14Accept(t, l)
		go h.drain()
		done := make(chan error, 1)
		go func() {
			c, err := client.New(conn, client.WithConfig(cfg))
			if c != nil {
				c.Close()
			}
			done <- err
		}()
		select {
		case err = <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("New did not return within 5 s")
		}
		t.Logf("run %d: %v", i, err)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "session handshake", "run %d", i)
		assert.True(t, ferry.NotExecuted(err), "run %d", i)
		if !errors.Is(err, transport.ErrOpenTimeout) {
			require.ErrorIs(t, err, context.DeadlineExceeded, "run %d", i)
		}
		h.conn.Close()
	}
	goleak.VerifyNone(t, before...)
}
