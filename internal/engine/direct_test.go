package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/internal/registry"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/ferryrpc/ferry/transport"
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

// BytesSvc takes []byte arguments by value and by pointer, net/rpc style.
type BytesSvc struct{}

// Len returns the length of its argument.
func (BytesSvc) Len(_ context.Context, p []byte, n *int) error { *n = len(p); return nil }

// PtrLen returns the length of its argument.
func (BytesSvc) PtrLen(_ context.Context, p *[]byte, n *int) error { *n = len(*p); return nil }

// TestDirectArgsShapes: every way to take a []byte gets the bin, straight
// or (a pointer to a pointer) through the whole message.
func TestDirectArgsShapes(t *testing.T) {
	r := registry.New()
	ms, err := registry.Reflect("", BytesSvc{})
	require.NoError(t, err)
	require.NoError(t, r.Add(ms...))
	require.NoError(t, r.Add(registry.Typed("B.PtrPtr", func(_ context.Context, p **[]byte) (*int, error) {
		n := len(**p)
		return &n, nil
	})))
	a, b := net.Pipe()
	srv := New(a, Options{Registry: r, FerryPeer: true})
	cli := New(b, Options{FerryPeer: true})
	var sa peakAccount
	srv.rd.SetAccount(&sa)
	srv.Start()
	cli.Start()
	t.Cleanup(func() {
		cli.Close()
		srv.Close()
	})
	payload := make([]byte, 200<<10)
	for _, m := range []string{"BytesSvc.Len", "BytesSvc.PtrLen"} {
		var n int
		require.NoError(t, cli.Call(context.Background(), m, payload, &n), m)
		assert.Equal(t, len(payload), n, m)
	}
	assert.Less(t, sa.max(), directMin)
	var n int
	require.NoError(t, cli.Call(context.Background(), "B.PtrPtr", payload, &n))
	assert.Equal(t, len(payload), n)
	assert.Greater(t, sa.max(), len(payload), "a **[]byte is decoded from the whole message")
}

// stallingReplier answers the first request it reads on conn with the
// head of a response whose bin result declares body bytes and carries
// sent of them, then sends nothing more until conn is closed.
func stallingReplier(t *testing.T, conn net.Conn, body, sent int) {
	t.Helper()
	go func() {
		rd := wire.NewReader(conn, wire.DefaultLimits)
		b, err := rd.Next()
		if err != nil {
			return
		}
		m, err := wire.Parse(b)
		if err != nil {
			return
		}
		resp := []byte{0x94, 0x01, 0xce, 0, 0, 0, 0, 0xc0, 0xc6, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(resp[3:], m.ID)
		binary.BigEndian.PutUint32(resp[9:], uint32(body))
		_, _ = conn.Write(append(resp, bytes.Repeat([]byte{0xa5}, sent)...))
		_, _ = io.Copy(io.Discard, conn)
	}()
}

// TestDirectReplyHonorsDeadline: a call whose large []byte reply has
// begun to arrive still ends with its context when the peer stalls in the
// body, whether the reply is read into a new array or into the caller's.
func TestDirectReplyHonorsDeadline(t *testing.T) {
	for _, inPlace := range []bool{false, true} {
		a, b := net.Pipe()
		budget := transport.NewBudget(64<<20, nil)
		cli := New(b, Options{Budget: budget})
		cli.Start()
		stallingReplier(t, a, 1<<20, 100<<10)

		var reply []byte
		if inPlace {
			reply = make([]byte, 0, 2<<20)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		done := make(chan error, 1)
		go func() { done <- cli.Call(ctx, "M", []byte("x"), &reply) }()
		var err error
		select {
		case err = <-done:
		case <-time.After(5 * time.Second):
			t.Errorf("in place %v: the call outlived its deadline by 5 s", inPlace)
			a.Close() // ends the read, and the call
			err = <-done
		}
		cancel()
		assert.ErrorIs(t, err, context.DeadlineExceeded, "in place %v", inPlace)
		a.Close()
		cli.Close()
		<-cli.readDone
		assert.Equal(t, int64(0), budget.Used(), "in place %v: charges left", inPlace)
	}
}
