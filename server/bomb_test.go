package server_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/ferryrpc/ferry/internal/testsvc"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// End-to-end hardened decoding: hostile MessagePack sent to a real server
// over loopback TCP, with the server in this process so its allocations
// can be measured (runtime.MemStats.TotalAlloc around each bomb; it also
// counts this test's own few allocations, so the figures are upper
// bounds). Bare MessagePack-RPC lets a test write arbitrary bytes; for the
// Ferry session protocol, TestBombsOverFerrySession opens a yamux session
// with the transport package and writes the same bytes into a stream,
// since client.Dial offers no raw write.

const (
	bombAllocLimit = 1 << 20
	bombDeadline   = 10 * time.Second
)

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func rep(b []byte, n int) []byte { return bytes.Repeat(b, n) }

// bareRequest builds [0, id, method, params] with params as raw bytes.
func bareRequest(id uint32, method string, params []byte) []byte {
	b := msgpack.AppendArrayHeader(nil, 4)
	b = msgpack.AppendUint(append(b, wire.TypeRequest), uint64(id))
	return append(msgpack.AppendString(b, method), params...)
}

// addParams is [{"A": a, "B": b}], the params of Arith.Add.
func addParams(a, b int64) []byte {
	p, err := codec.Marshal([]any{testsvc.Args{A: a, B: b}})
	if err != nil {
		panic(err)
	}
	return p
}

// bombTarget has the field types whose decoding panics inside msgpack.
type bombTarget struct {
	T time.Time
	M map[any]any
}

// bombServer serves the test services on 127.0.0.1:0 until the test ends.
func bombServer(t *testing.T) string {
	t.Helper()
	s := server.New()
	require.NoError(t, s.Register(testsvc.Arith{}))
	require.NoError(t, s.Register(testsvc.Echo{}))
	require.NoError(t, server.Handle(s, "Bomb.Target", func(ctx context.Context, req *bombTarget) (*bool, error) {
		ok := true
		return &ok, nil
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		require.NoError(t, s.Close())
		require.ErrorIs(t, <-done, server.ErrServerClosed)
	})
	return l.Addr().String()
}

// bomb is hostile params for a request, or a whole hostile message.
type bomb struct {
	name    string
	msg     []byte
	survive bool // the server replies with an error and keeps the connection
}

func bombs() []bomb {
	echo := func(params []byte) []byte { return bareRequest(9, "Echo.Echo", params) }
	target := func(params []byte) []byte { return bareRequest(9, "Bomb.Target", params) }
	return []bomb{
		{name: "array32 of 2^32-1 as params", msg: echo([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})},
		{name: "array32 of 2^32-1 in params", msg: echo([]byte{0x91, 0xdd, 0xff, 0xff, 0xff, 0xff})},
		{name: "map32 of 2^32-1 in params", msg: echo([]byte{0x91, 0xdf, 0xff, 0xff, 0xff, 0xff})},
		{name: "bin32 header of 4 GiB", msg: echo([]byte{0x91, 0xc6, 0xff, 0xff, 0xff, 0xff})},
		{name: "str32 header of 4 GiB", msg: echo([]byte{0x91, 0xdb, 0xff, 0xff, 0xff, 0xff})},
		{name: "ext32 header of 4 GiB", msg: echo([]byte{0x91, 0xc9, 0xff, 0xff, 0xff, 0xff, 0x01})},
		{name: "100,000 nested arrays", msg: echo(rep([]byte{0x91}, 100_000))},
		{name: "2,048 nested array16 headers", msg: echo(rep([]byte{0xdc, 0xff, 0xff}, 2048))},
		{name: "array32 envelope", msg: []byte{0xdd, 0xff, 0xff, 0xff, 0xff}},
		{name: "bin32 of 3 MiB, 64 KiB sent", msg: cat(echo([]byte{0x91, 0xc6, 0x00, 0x30, 0x00, 0x00}), make([]byte, 64<<10))},
		{name: "nil into a time.Time field", msg: target([]byte{0x91, 0x81, 0xa1, 'T', 0xc0}), survive: true},
		{name: "array as a map key", msg: target([]byte{0x91, 0x81, 0xa1, 'M', 0x81, 0x91, 0x01, 0x02}), survive: true},
	}
}

// keepAlive are connections opened before the bombs that must outlive them.
type keepAlive struct {
	ferry, plain *client.Client
}

func openKeepAlive(t *testing.T, addr string) keepAlive {
	ctx := t.Context()
	f, err := client.Dial(ctx, addr)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	p, err := client.Dial(ctx, addr, client.WithPlainMsgpackRPC())
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	k := keepAlive{ferry: f, plain: p}
	k.check(t, addr)
	return k
}

// check calls Arith.Add on the kept connections and on a fresh one.
func (k keepAlive) check(t *testing.T, addr string) {
	t.Helper()
	ctx := t.Context()
	fresh, err := client.Dial(ctx, addr)
	require.NoError(t, err)
	defer fresh.Close()
	for name, c := range map[string]*client.Client{"fresh": fresh, "open Ferry": k.ferry, "open plain": k.plain} {
		var sum int64
		require.NoError(t, c.Call(ctx, "Arith.Add", testsvc.Args{A: 40, B: 2}, &sum), name)
		assert.Equal(t, int64(42), sum, name)
	}
}

// bombOutcome is what one bomb did, measured around the write and the
// reading of the server's answer.
type bombOutcome struct {
	alloc   uint64
	elapsed time.Duration
	reply   *wire.Message // the error reply, when there was one
	readErr error         // why reading ended, when the connection closed
}

// throwBomb writes msg on c and reads until the server replies or closes
// the connection. closeWrite, when set, half-closes after the write so a
// server waiting for more bytes sees the end.
func throwBomb(t *testing.T, c net.Conn, rd *wire.Reader, msg []byte, closeWrite func() error) bombOutcome {
	t.Helper()
	require.NoError(t, c.SetDeadline(time.Now().Add(bombDeadline)))
	var out bombOutcome
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, werr := c.Write(msg) // may fail once the server has closed: fine
	if werr == nil && closeWrite != nil {
		_ = closeWrite()
	}
	b, err := rd.Next()
	out.elapsed = time.Since(start)
	runtime.ReadMemStats(&after)
	out.alloc = after.TotalAlloc - before.TotalAlloc
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "no answer within %v", bombDeadline)
	if err != nil {
		out.readErr = err
		return out
	}
	m, err := wire.Parse(b)
	require.NoError(t, err)
	out.reply = &m
	return out
}

// isClosed reports whether err means the peer closed or reset the
// connection (or stream).
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// warmUp makes one ordinary call on a raw connection, so the bomb's
// measurement excludes setting up the server's side of it.
func warmUp(t *testing.T, c net.Conn, rd *wire.Reader) {
	t.Helper()
	require.NoError(t, c.SetDeadline(time.Now().Add(bombDeadline)))
	_, err := c.Write(bareRequest(1, "Arith.Add", addParams(1, 2)))
	require.NoError(t, err)
	b, err := rd.Next()
	require.NoError(t, err)
	m, err := wire.Parse(b)
	require.NoError(t, err)
	require.Nil(t, m.Error)
	assert.Equal(t, []byte{0x03}, m.Result)
}

func TestBombsOverBareMsgpackRPC(t *testing.T) {
	addr := bombServer(t)
	keep := openKeepAlive(t, addr)
	for _, bm := range bombs() {
		t.Run(bm.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			defer nc.Close()
			tc := nc.(*net.TCPConn)
			rd := wire.NewReader(nc, wire.DefaultLimits)
			warmUp(t, nc, rd)

			closeWrite := tc.CloseWrite
			if bm.survive {
				closeWrite = nil
			}
			out := throwBomb(t, nc, rd, bm.msg, closeWrite)
			t.Logf("BOMB bare %-32q %7d bytes sent: %7d bytes allocated, answered in %v (%s)",
				bm.name, len(bm.msg), out.alloc, out.elapsed, describe(out))
			assert.Less(t, out.alloc, uint64(bombAllocLimit))
			if bm.survive {
				require.NotNil(t, out.reply, "read ended: %v", out.readErr)
				assert.Equal(t, uint32(9), out.reply.ID)
				msg, err := msgpack.ReadStringBytes(out.reply.Error)
				require.NoError(t, err)
				assert.Contains(t, string(msg), "cannot decode")
				// The same connection still serves calls.
				warmUp(t, nc, rd)
			} else {
				require.Nil(t, out.reply, "expected the connection to close")
				assert.True(t, isClosed(out.readErr), "%v", out.readErr)
			}
			keep.check(t, addr)
		})
	}
}

// TestBombsOverFerrySession sends the same bombs inside a stream of a
// Ferry (yamux) session, both as a MessagePack-RPC call stream and as the
// opening of a streaming call. Only the stream must close; the session
// keeps serving new streams.
func TestBombsOverFerrySession(t *testing.T) {
	addr := bombServer(t)
	keep := openKeepAlive(t, addr)
	ctx := t.Context()
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer nc.Close()
	sess, err := transport.Client(nc, transport.DefaultConfig())
	require.NoError(t, err)
	defer sess.Close()

	for _, bm := range bombs() {
		for _, streaming := range []bool{false, true} {
			if streaming && bm.survive {
				continue // typed decoding happens only in calls
			}
			name := bm.name
			if streaming {
				name = "streaming open: " + name
			}
			t.Run(name, func(t *testing.T) {
				st, err := sess.Open(ctx)
				require.NoError(t, err)
				defer st.Close()
				rd := wire.NewReader(st, wire.DefaultLimits)
				msg := bm.msg
				if streaming {
					msg = append([]byte{0xc1}, msg...)
				} else {
					warmUp(t, st, rd)
				}
				closeWrite := st.Close // yamux's Close is a half-close
				if bm.survive {
					closeWrite = nil // see TestHalfCloseDeliversPendingReplies
				}
				out := throwBomb(t, st, rd, msg, closeWrite)
				t.Logf("BOMB ferry %-47q %7d bytes sent: %7d bytes allocated, answered in %v (%s)",
					name, len(msg), out.alloc, out.elapsed, describe(out))
				assert.Less(t, out.alloc, uint64(bombAllocLimit))
				if bm.survive {
					require.NotNil(t, out.reply, "read ended: %v", out.readErr)
					msg, err := msgpack.ReadStringBytes(out.reply.Error)
					require.NoError(t, err)
					assert.Contains(t, string(msg), "cannot decode")
				} else {
					require.Nil(t, out.reply, "expected the stream to close")
					assert.True(t, isClosed(out.readErr), "%v", out.readErr)
				}

				// A new stream on the same session still works.
				st2, err := sess.Open(ctx)
				require.NoError(t, err)
				defer st2.Close()
				warmUp(t, st2, wire.NewReader(st2, wire.DefaultLimits))
				keep.check(t, addr)
			})
		}
	}
}

func describe(o bombOutcome) string {
	if o.reply != nil {
		msg, _ := msgpack.ReadStringBytes(o.reply.Error)
		return "error reply: " + string(msg)
	}
	return "closed: " + o.readErr.Error()
}

// TestHalfCloseDeliversPendingReplies: a bare MessagePack-RPC client that
// sends a request and then half-closes its side (shutdown(SHUT_WR), as
// one-shot scripts do) still gets its reply before the server closes.
func TestHalfCloseDeliversPendingReplies(t *testing.T) {
	addr := bombServer(t)
	lost := 0
	const tries = 100
	for i := 0; i < tries; i++ {
		nc, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		require.NoError(t, nc.SetDeadline(time.Now().Add(bombDeadline)))
		_, err = nc.Write(bareRequest(1, "Arith.Add", addParams(1, 2)))
		require.NoError(t, err)
		require.NoError(t, nc.(*net.TCPConn).CloseWrite())
		if _, err := wire.NewReader(nc, wire.DefaultLimits).Next(); err != nil {
			lost++
		}
		nc.Close()
	}
	assert.Zero(t, lost, "%d of %d replies lost after a half-close", lost, tries)
}
