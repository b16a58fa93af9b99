package e2e_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/require"
)

// TestVreview14GoAwayBeforeHelloAnswer: what a server sends a session's
// call stream before its hello's answer. PROTOCOL.md 4 ("Message size
// limits") says the server "sends the client no request or notification
// ... before that answer is queued"; a shutdown's $ferry.goaway is the
// exception the doc names: it goes out at once, and the hello that
// follows is still answered.
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
	v.write(hello[1:])
	answer := v.next()
	require.Len(t, answer, 4, "%v", v17Brief(answer))
	require.Nil(t, answer[2], "the hello's answer: %v", v17Brief(answer))
	v.sess.Close()
	<-done
}
