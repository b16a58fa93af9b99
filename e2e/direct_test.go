package e2e_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests in this file cover large bin arguments and replies, which the
// reader hands over after the bin's header so that the body is read
// straight into the destination []byte (internal/engine/direct.go).

// directServer serves Direct.Bytes, an echo of []byte arguments, and
// Direct.Meta, which returns the request's metadata and whether it has a
// deadline.
func directServer(t *testing.T, opts ...server.Option) *server.Server {
	s := newServer(t, opts...)
	require.NoError(t, server.Handle(s, "Direct.Bytes", func(_ context.Context, p *[]byte) (*[]byte, error) { return p, nil }))
	require.NoError(t, server.Handle(s, "Direct.Meta", func(ctx context.Context, p *[]byte) (*[]string, error) {
		_, deadline := ctx.Deadline()
		return &[]string{ferry.IncomingMetadata(ctx)["k"], map[bool]string{true: "deadline"}[deadline], string((*p)[:4])}, nil
	}))
	return s
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7+i>>8)
	}
	return b
}

// TestDirectBodies: large bins arrive intact into every kind of reply, a
// []byte reply with room is filled in place, and the extensions after
// the body (metadata, deadline) reach the handler.
func TestDirectBodies(t *testing.T) {
	eachConduit(t, func(t *testing.T, tr conduit) {
		c := tr.dial(t, directServer(t))
		ctx := context.Background()
		const n = 300 << 10
		payload := pattern(n, 1)

		reply := make([]byte, 10, n+100)
		array := unsafe.SliceData(reply)
		require.NoError(t, c.Call(ctx, "Direct.Bytes", payload, &reply))
		assert.True(t, bytes.Equal(payload, reply))
		assert.Same(t, array, unsafe.SliceData(reply), "a reply with room is filled in place")

		var fresh []byte
		require.NoError(t, c.Call(ctx, "Direct.Bytes", payload, &fresh))
		assert.True(t, bytes.Equal(payload, fresh))
		assert.NotSame(t, array, unsafe.SliceData(fresh))

		var s string // not a []byte: the whole message is decoded as before
		require.NoError(t, c.Call(ctx, "Direct.Bytes", payload, &s))
		assert.Equal(t, string(payload), s)

		require.NoError(t, c.Call(ctx, "Direct.Bytes", payload, nil), "a nil reply skips the body")

		var async []byte
		call := c.Go(ctx, "Direct.Bytes", pattern(n, 2), &async)
		require.NoError(t, call.Wait())
		assert.True(t, bytes.Equal(pattern(n, 2), async))

		mctx, cancel := context.WithTimeout(ferry.WithOutgoingMetadata(ctx, ferry.Metadata{"k": "v"}), time.Minute)
		defer cancel()
		var meta []string
		require.NoError(t, c.Call(mctx, "Direct.Meta", payload, &meta))
		if tr.plain {
			assert.Equal(t, []string{"", "", string(payload[:4])}, meta, "no extensions on plain connections")
		} else {
			assert.Equal(t, []string{"v", "deadline", string(payload[:4])}, meta)
		}

		var sum int64 // small calls around them still work
		require.NoError(t, c.Call(ctx, "Arith.Add", map[string]int{"A": 1, "B": 2}, &sum))
		assert.Equal(t, int64(3), sum)
	})
}

// TestDirectBodiesConcurrent: callers reusing their reply buffers while
// others' bodies arrive get their own bytes (the race detector watches
// the writes into the callers' arrays).
func TestDirectBodiesConcurrent(t *testing.T) {
	c := dialTCP(t, directServer(t))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reply := make([]byte, 0, 200<<10)
			for i := range 8 {
				want := pattern(100<<10+i*1000, byte(g*16+i))
				if !assert.NoError(t, c.Call(context.Background(), "Direct.Bytes", want, &reply)) {
					return
				}
				assert.True(t, bytes.Equal(want, reply), "caller %d call %d", g, i)
			}
		}()
	}
	wg.Wait()
}

// bytesRequest is a Direct.Bytes request whose bin declares total bytes,
// of which n follow, and then ext (when not nil) as a fifth element.
func bytesRequest(id uint32, total, n int, ext []byte) []byte {
	b := []byte{0x94, 0x00, 0xce, 0, 0, 0, 0}
	if ext != nil {
		b[0] = 0x95
	}
	binary.BigEndian.PutUint32(b[3:], id)
	b = append(append(b, 0xac), "Direct.Bytes"...)
	b = append(b, 0x91, 0xc6)
	b = binary.BigEndian.AppendUint32(b, uint32(total))
	b = append(b, make([]byte, n)...)
	if n == total {
		b = append(b, ext...)
	}
	return b
}

// TestDirectBodyHostile sends large-bin requests to a []byte method from
// raw sockets: past the size limit (declared, or through the extensions
// after the body), stalled in the body, or held on many streams at once.
func TestDirectBodyHostile(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.PartialMessageTimeout = 200 * time.Millisecond
	cfg.MemoryBudget = 16 << 20
	s := directServer(t, server.WithConfig(cfg))
	addr := listen(t, s)
	dial := func(t *testing.T, addr string, msg []byte) net.Conn {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write(msg)
		return c
	}
	plain := func(t *testing.T, msg []byte) net.Conn { return dial(t, addr, msg) }
	// Refusals at the header are told from the stall timeout by a server
	// whose stall timeout is far longer than any scheduling delay.
	patient := cfg
	patient.PartialMessageTimeout = 20 * time.Second
	patientAddr := listen(t, directServer(t, server.WithConfig(patient)))

	t.Run("declared past the limit", func(t *testing.T) {
		_, h0 := settle()
		c := dial(t, patientAddr, bytesRequest(1, cfg.MaxMessageSize, 1000, nil))
		took := waitClosed(t, c, 15*time.Second)
		assert.Less(t, took, 5*time.Second, "refused at the header, not by the stall (20 s) or first-message (10 s) timeouts")
		assert.Less(t, heapGrowth(h0), int64(1<<20))
	})
	t.Run("extensions past the limit", func(t *testing.T) {
		n := cfg.MaxMessageSize - 100
		ext := append([]byte{0x81, 0xa1, 'm', 0x81, 0xa1, 'k', 0xd9, 200}, make([]byte, 200)...)
		c := dial(t, patientAddr, bytesRequest(1, n, n, ext))
		took := waitClosed(t, c, 15*time.Second)
		assert.Less(t, took, 5*time.Second, "refused as the extensions pass the limit, not by a timeout")
	})
	t.Run("stalled in the body", func(t *testing.T) {
		c := plain(t, bytesRequest(1, 1<<20, 100<<10, nil))
		took := waitClosed(t, c, 5*time.Second)
		assert.GreaterOrEqual(t, took, 150*time.Millisecond)
	})
	t.Run("held on many streams", func(t *testing.T) {
		_, h0 := settle()
		conn := rawSession(t, addr)
		written := openStreams(conn, 1, 200, bytesRequest(1, cfg.MaxMessageSize-64, 64<<10, nil))
		require.Eventually(t, func() bool { return memoryInUse(s) > 0 || len(s.Conns()) == 0 }, 5*time.Second, time.Millisecond)
		peak := memoryInUse(s)
		grew := heapGrowth(h0)
		t.Logf("%d streams each holding the head of a 4 MiB bin: heap %+.1f MiB; budget in use %v", written, float64(grew)/(1<<20), peak)
		assert.LessOrEqual(t, peak, cfg.MemoryBudget+int64(cfg.MaxMessageSize))
		assert.Less(t, grew, 2*cfg.MemoryBudget+16<<20)
		goodCall(t, addr, 2*time.Second)
		released(t, s, conn, h0)
	})
	t.Run("heads with a trickle of body", func(t *testing.T) {
		// 16 streams each send the head of a 4 MiB bin and 1 KiB of it
		// (about 17 KiB in all): what the server holds follows what arrived, not
		// what was declared (it was 56 MiB of the budget when every such
		// head got an array of its declared length).
		_, h0 := settle()
		conn := rawSession(t, addr)
		// A small first message on each (a stream's first message is always
		// taken whole), then the trickled head.
		first := bytesRequest(1, 10, 10, nil)
		require.Equal(t, 16, openStreams(conn, 1, 16, append(first, bytesRequest(2, cfg.MaxMessageSize-64, 1<<10, nil)...)))
		require.Eventually(t, func() bool { return streamsOpen(s) >= 16 }, 5*time.Second, time.Millisecond)
		var peakv atomic.Int64
		assert.Never(t, func() bool { raise(&peakv, memoryInUse(s)); return peakv.Load() > 4<<20 },
			300*time.Millisecond, 5*time.Millisecond, "held far more than arrived")
		peak := peakv.Load()
		grew := heapGrowth(h0)
		t.Logf("16 heads of a 4 MiB bin with 1 KiB each: budget in use at most %d KiB, heap %+.1f MiB", peak>>10, float64(grew)/(1<<20))
		assert.Less(t, grew, int64(8<<20))
		released(t, s, conn, h0)
	})
}

// TestDirectBodyRefused: a large-bin call past the connection's budget is
// refused before its body is allocated, the body is skipped, and the
// connection goes on serving.
//
// The sizes leave a margin both ways. The budget (raised to its floor,
// 2 × 8 MiB + 1 MiB = 17 MiB) must refuse the second call, charged 2 ×
// 7.5 MiB, on top of the first's held arguments (2 × 1.5 MiB): 18 MiB.
// And the session's own charges on top of those arguments must stay
// under it at their worst: a reader buffer grown to the message limit
// (8 MiB) and the refused body arriving unread, up to 1.5 MiB on the call
// stream charged twice (3 MiB), so 14 MiB. With 4 MiB messages and a 9 MiB
// budget that second margin was 0.4 MiB: under load the reader's buffer
// reached 4 MiB and 1.5 MiB of the body waited unread, and the session
// ended in about one run in 250 (9,823,292 bytes of 9,437,184).
func TestDirectBodyRefused(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.MaxMessageSize = 8 << 20
	cfg.MemoryBudget = 1 << 20 // raised to 2 × 8 MiB + 1 MiB
	release := make(chan struct{})
	held := make(chan struct{}, 1)
	var why atomic.Value
	s := directServer(t, server.WithConfig(cfg), server.WithConnHooks(nil, func(p *server.Peer) {
		if err := p.Err(); err != nil {
			why.Store(err.Error())
		}
	}))
	// Cleanups run last first: a failure below releases the handler
	// before the server's cleanup waits for it.
	unblock := sync.OnceFunc(func() { close(release) })
	t.Cleanup(unblock)
	require.NoError(t, server.Handle(s, "Direct.Hold", func(_ context.Context, p *[]byte) (*int, error) {
		held <- struct{}{}
		<-release
		n := len(*p)
		return &n, nil
	}))
	c := dialTCP(t, s, client.WithConfig(cfg))
	ctx := context.Background()
	big := pattern(1536<<10, 3)
	first := c.Go(ctx, "Direct.Hold", big, new(int))
	select { // its arguments stay charged, 2 × their size
	case <-held:
	case <-first.Done():
		require.NoError(t, first.Err())
	}
	err := c.Call(ctx, "Direct.Bytes", pattern(7680<<10, 4), new([]byte))
	var fe *ferry.Error
	require.True(t, errors.As(err, &fe), "%v", err)
	if fe.Code != ferry.CodeResourceExhausted {
		// Say why the server ended the session, when it did.
		assert.Eventually(t, func() bool { return why.Load() != nil }, 5*time.Second, time.Millisecond)
		require.Failf(t, "not refused", "%v; the server's side: %v", err, why.Load())
	}
	assert.True(t, ferry.NotExecuted(err))
	unblock()
	require.NoError(t, first.Wait())
	assert.Equal(t, len(big), *first.Reply.(*int))
	var got []byte
	require.NoError(t, c.Call(ctx, "Direct.Bytes", big[:300<<10], &got))
	assert.True(t, bytes.Equal(big[:300<<10], got))
}

// TestDirectBodiesRaw: a codec.Raw argument or reply, a byte slice of
// another type, gets the bin whole, header included, never just its body.
func TestDirectBodiesRaw(t *testing.T) {
	s := directServer(t)
	require.NoError(t, server.Handle(s, "Direct.Raw", func(_ context.Context, p *codec.Raw) (*codec.Raw, error) { return p, nil }))
	c := dialTCP(t, s)
	payload := pattern(300<<10, 5)
	want, err := codec.Marshal(payload)
	require.NoError(t, err)
	var raw codec.Raw
	require.NoError(t, c.Call(context.Background(), "Direct.Raw", payload, &raw))
	assert.True(t, bytes.Equal(want, raw), "the handler or the reply lost the bin's header")
	raw = make(codec.Raw, 0, len(want)+10)
	require.NoError(t, c.Call(context.Background(), "Direct.Bytes", payload, &raw))
	assert.True(t, bytes.Equal(want, raw))
}
