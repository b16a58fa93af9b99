package debug

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConnCountersAmortized: with 1,000 connections open, each new
// connection's first counted call cost a walk of every counter, under
// the lock every call takes (150 µs each with 2,400 open); now the walks
// are spread over as many new connections, so 500 new connections cost
// about as much as 500 calls of connections already counted.
func TestConnCountersAmortized(t *testing.T) {
	peers := make(chan *server.Peer, 1500)
	s := server.New(server.WithConnHooks(func(p *server.Peer) { peers <- p }, nil))
	var wg sync.WaitGroup
	var clients []net.Conn
	defer func() {
		s.Close()
		for _, c := range clients {
			c.Close()
		}
		wg.Wait()
	}()
	var all []*server.Peer
	for range 1500 {
		cc, sc := net.Pipe()
		clients = append(clients, cc)
		wg.Add(1)
		go func() { defer wg.Done(); _ = s.ServeConn(sc) }()
		go func() { _, _ = cc.Write([]byte{0x94}) }() // a bare MessagePack-RPC connection
		select {
		case p := <-peers:
			all = append(all, p)
		case <-time.After(5 * time.Second):
			t.Fatal("no peer")
		}
	}
	st := New()
	for _, p := range all[:1000] {
		st.conn(p)
	}
	start := time.Now()
	for _, p := range all[:500] {
		st.conn(p)
	}
	counted := time.Since(start)
	start = time.Now()
	for _, p := range all[1000:] {
		require.NotNil(t, st.conn(p))
	}
	fresh := time.Since(start)
	t.Logf("500 calls of counted connections: %v; 500 new connections: %v", counted, fresh)
	assert.Less(t, fresh, 50*counted+2*time.Millisecond)
}
