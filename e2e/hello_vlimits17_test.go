package e2e_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/hashicorp/yamux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// v17Raw is a session written by hand: yamux's client, so that it keeps
// to the windows, and a call stream on which the test writes the hello
// and its calls itself.
type v17Raw struct {
	t    *testing.T
	sess *yamux.Session
	call *yamux.Stream
	r    *bufio.Reader
}

// v17Dial starts a session to addr and opens its call stream, writing
// nothing on it.
func v17Dial(t *testing.T, addr string) *v17Raw {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	cfg := yamux.DefaultConfig()
	cfg.EnableKeepAlive = false
	cfg.LogOutput = io.Discard
	cfg.MaxStreamWindowSize = 16 << 20
	sess, err := yamux.Client(conn, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { sess.Close() })
	st, err := sess.OpenStream()
	require.NoError(t, err)
	return &v17Raw{t: t, sess: sess, call: st, r: bufio.NewReaderSize(st, 64<<10)}
}

// write writes b on the call stream.
func (v *v17Raw) write(b []byte) {
	v.t.Helper()
	_ = v.call.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := v.call.Write(b)
	require.NoError(v.t, err)
}

// next reads the next message on the call stream, within 5 s.
func (v *v17Raw) next() []any {
	v.t.Helper()
	_ = v.call.SetReadDeadline(time.Now().Add(5 * time.Second))
	var m []any
	require.NoError(v.t, msgpack.NewDecoder(v.r).Decode(&m))
	return m
}

// hello says hello with params map m and returns the answer's result.
func (v *v17Raw) hello(id uint32, m map[string]any) map[string]any {
	v.t.Helper()
	v.write(request(id, "$ferry.hello", []any{m}, map[string]any{}))
	a := v.next()
	require.Len(v.t, a, 4, "the hello's answer: %v", v17Brief(a))
	require.Nil(v.t, a[2], "the hello's answer: %v", a[2])
	res, ok := a[3].(map[string]any)
	require.True(v.t, ok, "the hello's answer: %v", a[3])
	return res
}

// blob calls V17.Blob for n bytes and returns the reply's result and its
// error (the error's message, "" on success).
func (v *v17Raw) blob(id uint32, n int) (result any, errMsg string) {
	v.t.Helper()
	return v.do(id, "V17.Blob", n)
}

// do calls method with params and returns the reply's result and its
// error (the error's message, "" on success).
func (v *v17Raw) do(id uint32, method string, params ...any) (result any, errMsg string) {
	v.t.Helper()
	v.write(request(id, method, params, map[string]any{}))
	m := v.next()
	require.GreaterOrEqual(v.t, len(m), 4, "%v", v17Brief(m))
	id2, _ := toUint(m[1])
	require.Equal(v.t, uint64(id), id2)
	if m[2] != nil {
		s, _ := m[2].(string)
		require.NotEmpty(v.t, s, "%v", m[2])
		return nil, s
	}
	return m[3], ""
}

// v17Brief shows a message's first three elements: a failure must not
// print a 100 KiB payload.
func v17Brief(m []any) string {
	if len(m) > 3 {
		return fmt.Sprintf("%v (and %d more elements)", m[:3], len(m)-3)
	}
	return fmt.Sprint(m)
}

// v17Server serves V17.* with opts on loopback TCP and returns its
// address.
func v17Server(t *testing.T, opts ...server.Option) string {
	t.Helper()
	s := server.New(opts...)
	t.Cleanup(func() { s.Close() })
	newV17Svc().register(t, s)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = s.Serve(l) }()
	return l.Addr().String()
}

// TestVlimits17RawHello: a hello written by hand. The server answers
// every hello it accepts with its own limit ("max"); a hello without
// "max" (an older client), or with one that is not a non-negative integer
// (PROTOCOL.md 4: as if absent), or 0, or one at or above the server's
// own limit, changes nothing: a 1 MiB reply goes out whole under the
// server's 4 MiB. A smaller "max" bounds the replies (one below 1 KiB is
// taken as 1 KiB, the least a side can be configured with, so that the
// hello's own answer gets through): one over it is replaced by
// resource_exhausted, and the connection goes on.
func TestVlimits17RawHello(t *testing.T) {
	addr := v17Server(t)
	const own = 4 << 20
	for _, tc := range []struct {
		name  string
		hello map[string]any
		limit int // 0: none but the server's own
	}{
		{"absent", map[string]any{}, 0},
		{"absent, with settle", map[string]any{"settle": true}, 0},
		{"0", map[string]any{"max": 0}, 0},
		{"nil", map[string]any{"max": nil}, 0},
		{"str", map[string]any{"max": "1024"}, 0},
		{"bin", map[string]any{"max": []byte{4, 0}}, 0},
		{"bool", map[string]any{"max": true}, 0},
		{"negative", map[string]any{"max": -1}, 0},
		{"most negative", map[string]any{"max": int64(math.MinInt64)}, 0},
		{"float", map[string]any{"max": 1.5}, 0},
		{"integral float", map[string]any{"max": 1024.0}, 0},
		{"array", map[string]any{"max": []any{1024}}, 0},
		{"map", map[string]any{"max": map[string]any{"max": 1024}}, 0},
		{"2^64-1", map[string]any{"max": uint64(math.MaxUint64)}, 0},
		{"2^63", map[string]any{"max": uint64(1) << 63}, 0},
		{"2^63-1", map[string]any{"max": int64(math.MaxInt64)}, 0},
		{"the server's own", map[string]any{"max": own}, 0},
		{"above the server's own", map[string]any{"max": own + 1}, 0},
		{"1, taken as 1 KiB", map[string]any{"max": 1}, 1 << 10},
		{"1023, taken as 1 KiB", map[string]any{"max": 1023}, 1 << 10},
		{"1 KiB", map[string]any{"max": 1 << 10}, 1 << 10},
		{"64 KiB", map[string]any{"max": 64 << 10}, 64 << 10},
		{"just under 1 MiB", map[string]any{"max": 1<<20 + 8}, 1<<20 + 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := v17Dial(t, addr)
			answer := v.hello(1, tc.hello)
			max, ok := toUint(answer["max"])
			require.True(t, ok, "the answer carries the server's limit: %v", answer)
			assert.Equal(t, uint64(own), max)
			res, msg := v.blob(2, 1<<20)
			if tc.limit == 0 {
				require.Empty(t, msg)
				assert.Len(t, res, 1<<20)
			} else {
				t.Log(msg)
				assert.Contains(t, msg, fmt.Sprintf("the peer's %d-byte message limit", tc.limit))
			}
			// The connection goes on: a reply within every limit.
			res, msg = v.blob(3, 16)
			require.Empty(t, msg)
			assert.Len(t, res, 16)
		})
	}
}

// TestVlimits17RawHelloOnlyLowers: a later hello can lower the limit the
// server keeps to, never raise it: a client cannot talk the server past
// what it said before, nor past the server's own limit.
func TestVlimits17RawHelloOnlyLowers(t *testing.T) {
	addr := v17Server(t)
	v := v17Dial(t, addr)
	v.hello(1, map[string]any{"max": 64 << 10})
	_, msg := v.blob(2, 100<<10)
	assert.Contains(t, msg, "peer's 65536-byte")
	v.hello(3, map[string]any{"max": 8 << 20})
	_, msg = v.blob(4, 100<<10)
	assert.Contains(t, msg, "peer's 65536-byte", "a later hello does not raise it")
	v.hello(5, map[string]any{"max": 4 << 10})
	_, msg = v.blob(6, 8<<10)
	assert.Contains(t, msg, "peer's 4096-byte", "a later hello lowers it")
	res, msg := v.blob(7, 1<<10)
	require.Empty(t, msg)
	assert.Len(t, res, 1<<10)
}

// TestVlimits17RawHelloToken: a "max" of the wrong type does not spoil
// the rest of the hello: its token still authenticates the connection,
// whichever order the keys come in.
func TestVlimits17RawHelloToken(t *testing.T) {
	addr := v17Server(t, server.WithAuth(func(_ context.Context, info ferry.AuthInfo) (any, error) {
		if info.Token != "good" {
			return nil, ferry.NewError(ferry.CodeUnauthenticated, "bad token")
		}
		return "someone", nil
	}))
	for _, max := range []any{"x", []any{1, 2}, -5, 2.5, map[string]any{}, nil} {
		v := v17Dial(t, addr)
		// The map is written by hand, "max" first, then "token".
		hello := append([]byte{0x82, 0xa3}, "max"...)
		hello = append(hello, enc(max)...)
		hello = append(append(hello, 0xa5), "token"...)
		hello = append(hello, enc("good")...)
		msg := append([]byte{0x95, 0x00, 0x01, 0xac}, "$ferry.hello"...)
		msg = append(append(msg, 0x91), hello...)
		v.write(append(msg, 0x80))
		a := v.next()
		require.Len(t, a, 4, "%v: %v", max, v17Brief(a))
		assert.Nil(t, a[2], "%v: authenticated: %v", max, a[2])
		res, errMsg := v.blob(2, 100)
		require.Empty(t, errMsg, "%v", max)
		assert.Len(t, res, 100)
	}
}

// TestVlimits17RawHelloSplit: the server's connect hook calls the client
// as soon as the client's call stream opens, before its hello has
// arrived whole. The call waits for the hello, so that it keeps to the
// client's limit, and it goes out after the hello's answer: over the
// limit it fails at the server, not executed, and nothing is sent; within
// it, the request follows the answer.
func TestVlimits17RawHelloSplit(t *testing.T) {
	for _, tc := range []struct {
		name string
		max  int
		sent bool
	}{
		{"over the client's limit", 64 << 10, false},
		{"within the client's limit", 1 << 20, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hooked := make(chan struct{})
			seen := make(chan error, 1)
			addr := v17Server(t, server.WithConnHooks(func(p *server.Peer) {
				close(hooked)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				seen <- p.Call(ctx, "C17.Echo", make([]byte, 100<<10), nil)
			}, nil))
			v := v17Dial(t, addr)
			hello := request(1, "$ferry.hello", []any{map[string]any{"max": tc.max}}, map[string]any{})
			v.write(hello[:1]) // the stream's first byte starts the server's side of it
			select {
			case <-hooked:
			case <-time.After(5 * time.Second):
				t.Fatal("the connect hook did not run within 5 s")
			}
			select {
			case err := <-seen:
				t.Fatalf("the hook's call ended before the hello came: %v", err)
			default:
			}
			v.write(hello[1:])
			a := v.next()
			require.Len(t, a, 4, "the hello's answer comes first: %v", v17Brief(a))
			assert.EqualValues(t, 1, a[0], "the hello's answer comes first: %v", v17Brief(a))
			if !tc.sent {
				err := <-seen
				t.Log(err)
				require.Error(t, err)
				assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err))
				assert.True(t, ferry.NotExecuted(err))
				res, msg := v.blob(2, 16)
				require.Empty(t, msg, "the connection goes on")
				assert.Len(t, res, 16)
				return
			}
			req := v.next()
			require.GreaterOrEqual(t, len(req), 4, "%v", v17Brief(req))
			assert.EqualValues(t, 0, req[0])
			assert.Equal(t, "C17.Echo", req[2])
			id, _ := toUint(req[1])
			v.write(enc([]any{1, id, nil, 1}))
			require.NoError(t, <-seen)
		})
	}
}

// TestVlimits17ClientHello: what a Ferry client says and learns. Its
// hello carries its own limit; the answer's "max" bounds what it sends
// from then on (a request over it fails at once, not executed, and is
// never sent), and an answer without a usable one (an older server, or
// garbage) leaves it to its own limit.
func TestVlimits17ClientHello(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer any
		limit  bool
	}{
		{"empty", map[string]any{}, false},
		{"nil", nil, false},
		{"not a map", "hello", false},
		{"str", map[string]any{"max": "1024"}, false},
		{"negative", map[string]any{"max": -1}, false},
		{"float", map[string]any{"max": 1024.0}, false},
		{"huge", map[string]any{"max": uint64(math.MaxUint64)}, false},
		{"1 KiB", map[string]any{"max": 1024}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := v14Listen(t)
			type dialed struct {
				c   *client.Client
				err error
			}
			done := make(chan dialed, 1)
			go func() {
				c, err := client.Dial(t.Context(), l.Addr().String(), client.WithConfig(v17Cfg(v17Small)))
				done <- dialed{c, err}
			}()
			h := v14Accept(t, l)
			m := h.msg(1)
			require.Len(t, m, 5, "%v", v17Brief(m))
			require.Equal(t, "$ferry.hello", m[2])
			params, _ := m[3].([]any)
			require.Len(t, params, 1)
			hello, _ := params[0].(map[string]any)
			max, ok := toUint(hello["max"])
			require.True(t, ok, "the hello carries the client's limit: %v", hello)
			assert.Equal(t, uint64(v17Small), max)
			id, _ := toUint(m[1])
			h.must(yamuxFrame(v14Window, v14ACK, 1, 16<<20), dataFrame(1, 0, enc([]any{1, id, nil, tc.answer})))
			var d dialed
			select {
			case d = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Dial did not return within 5 s")
			}
			require.NoError(t, d.err)
			defer d.c.Close()
			call := d.c.Go(t.Context(), "S.Big", make([]byte, 4<<10), nil)
			if tc.limit {
				err := v14Wait(t, call)
				t.Log(err)
				require.Error(t, err)
				assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err))
				assert.True(t, ferry.NotExecuted(err))
				assert.True(t, strings.Contains(err.Error(), "peer's 1024-byte"), "%v", err)
				v14Alive(t, d.c, h) // the next request the server sees is the ping
				return
			}
			id, method := h.request()
			require.Equal(t, "S.Big", method)
			h.must(v14Reply(id, nil, true))
			require.NoError(t, v14Wait(t, call))
			v14Alive(t, d.c, h)
		})
	}
}

// TestVlimits17RawStreamOverLimit: a peer that said no limit in its hello
// (an older client) can still send a streaming frame past the server's
// MaxMessageSize: the server rejects it as it reads it and ends that call
// with the status resource_exhausted (PROTOCOL.md 6, "Size"); the session
// and its call stream go on.
func TestVlimits17RawStreamOverLimit(t *testing.T) {
	s := server.New(server.WithConfig(v17Cfg(64 << 10)))
	t.Cleanup(func() { s.Close() })
	newV17Svc().register(t, s)
	require.NoError(t, server.HandleClientStream(s, "V17.Sink", func(_ context.Context, recv func() (*[]byte, error)) (*int, error) {
		n := 0
		for range 100 {
			m, err := recv()
			if err != nil {
				if errors.Is(err, io.EOF) {
					return &n, nil
				}
				return nil, err
			}
			n += len(*m)
		}
		return &n, nil
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = s.Serve(l) }()
	v := v17Dial(t, l.Addr().String())
	v.hello(1, map[string]any{"settle": true})
	st, err := v.sess.OpenStream()
	require.NoError(t, err)
	defer st.Close()
	_ = st.SetDeadline(time.Now().Add(5 * time.Second))
	open := append([]byte{0xc1}, request(0, "V17.Sink", []any{}, map[string]any{})...)
	_, err = st.Write(append(open, enc([]any{3, make([]byte, 100<<10)})...))
	require.NoError(t, err)
	var final []any
	require.NoError(t, msgpack.NewDecoder(st).Decode(&final))
	require.Len(t, final, 5, "%v", v17Brief(final))
	assert.EqualValues(t, 1, final[0])
	ext, _ := final[4].(map[string]any)
	assert.EqualValues(t, 8, ext["c"], "resource_exhausted: %v", final[2])
	res, msg := v.blob(2, 16)
	require.Empty(t, msg, "the call stream goes on")
	assert.Len(t, res, 16)
}
