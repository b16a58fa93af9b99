package engine

import (
	"bytes"
	"context"
	"net"
	"sync"
	"testing"

	"github.com/ferryrpc/ferry/internal/registry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// peakAccount records the most a reader ever had charged.
type peakAccount struct {
	mu         sync.Mutex
	held, peak int
}

func (a *peakAccount) Charge(n int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.held += n
	a.peak = max(a.peak, a.held)
	return true
}

func (a *peakAccount) Release(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.held -= n
}

func (a *peakAccount) max() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.peak
}

// TestDirectBodiesSkipTheReaderBuffer: a large []byte argument and reply
// are read straight into their slices, so neither reader's buffer grows
// for them; a reply of another type takes the whole message through the
// client's buffer, as before.
func TestDirectBodiesSkipTheReaderBuffer(t *testing.T) {
	r := registry.New()
	require.NoError(t, r.Add(registry.Typed("B.Echo", func(_ context.Context, p *[]byte) (*[]byte, error) { return p, nil })))
	a, b := net.Pipe()
	srv := New(a, Options{Registry: r, FerryPeer: true})
	cli := New(b, Options{FerryPeer: true})
	var sa, ca peakAccount
	srv.rd.SetAccount(&sa)
	cli.rd.SetAccount(&ca)
	srv.Start()
	cli.Start()
	t.Cleanup(func() {
		cli.Close()
		srv.Close()
	})

	payload := bytes.Repeat([]byte("0123456789abcdef"), 300<<10/16)
	var reply []byte
	require.NoError(t, cli.Call(context.Background(), "B.Echo", payload, &reply))
	assert.Equal(t, payload, reply)
	assert.Less(t, sa.max(), directMin, "the server's reader held the argument")
	assert.Less(t, ca.max(), directMin, "the client's reader held the reply")

	var s string
	require.NoError(t, cli.Call(context.Background(), "B.Echo", payload, &s))
	assert.Equal(t, string(payload), s)
	assert.Less(t, sa.max(), directMin)
	assert.Greater(t, ca.max(), len(payload), "a string reply is decoded from the whole message")
}
