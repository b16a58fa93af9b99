package e2e_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// TestVreview14GoAwayBeforeHelloAnswer: what a server sends a session's
// call stream before its hello's answer. PROTOCOL.md 4 ("Message size
// limits") says the server "sends the client no request or notification
// ... before that answer is queued"; a shutdown's $ferry.goaway is the
// exception the doc names: it goes out at once, and the hello that
// follows is answered if it arrives whole before the draining server
// closes the stream.
func TestVreview14GoAwayBeforeHelloAnswer(t *testing.T) {
	hooked := make(chan struct{})
	s := server.New(server.WithConnHooks(func(*server.Peer) { close(hooked) }, nil))
	t.Cleanup(func() { s.Close() })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = s.Serve(l) }()
	v := v17Dial(t, l.Addr().String())
	hello := request(1, "$ferry.hello", []any{map[string]any{}}, map[string]any{})
	v.write(hello[:1])
	<-hooked
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	}()
	first := v.next()
	t.Logf("first message: %v", v17Brief(first))
	require.Equal(t, []any{int8(2), "$ferry.goaway", []any{}}, first)
	// The rest of the hello may come after the draining server counted
	// the stream's requests out ($ferry.drained) or closed the stream
	// (nothing was in flight): then it is not answered. If it is
	// answered, the answer accepts it.
	_ = v.call.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := v.call.Write(hello[1:]); err == nil {
		dec := msgpack.NewDecoder(v.r)
		for range 4 {
			var m []any
			if err := dec.Decode(&m); err != nil {
				t.Logf("the stream ended before the hello's answer: %v", err)
				break
			}
			t.Logf("then: %v", v17Brief(m))
			if len(m) == 3 && m[1] == "$ferry.drained" {
				continue
			}
			require.Len(t, m, 4, "the hello's answer: %v", v17Brief(m))
			require.Nil(t, m[2], "the hello's answer: %v", v17Brief(m))
			break
		}
	}
	v.sess.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return")
	}
}
