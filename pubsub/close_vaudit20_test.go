package pubsub_test

import (
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/faultnet"
	"github.com/ferryrpc/ferry/pubsub"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit20CloseBoundedOnASilentNetwork checks Subscription.Close:
// "it asks the server for its final count (waiting at most a second),
// then releases the stream and waits for its reader to stop": over a
// connection that a partition has made silent (nothing gets through,
// nothing is closed), Close returns within that second and a little more.
func TestVaudit20CloseBoundedOnASilentNetwork(t *testing.T) {
	b := pubsub.NewBroker()
	s := server.New()
	require.NoError(t, b.Register(s))
	t.Cleanup(func() { s.Close() })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = s.Serve(l) }()
	f := faultnet.New()
	nc, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	c, err := client.New(f.Conn(nc))
	require.NoError(t, err)
	defer c.Close()
	sub, err := pubsub.Subscribe(t.Context(), c, "t")
	require.NoError(t, err)

	f.Blackhole()
	start := time.Now()
	closed := make(chan error, 1)
	go func() { closed <- sub.Close() }()
	select {
	case <-closed:
		took := time.Since(start)
		t.Logf("Close returned after %v", took)
		assert.Less(t, took, 2500*time.Millisecond)
	case <-time.After(15 * time.Second):
		t.Fatal("Close still waits 15 s later")
	}
	f.Heal()
}
