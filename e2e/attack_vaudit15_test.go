package e2e_test

// vaudit15: the example server's built-in methods besides the arithmetic
// ones, as an attacker on an open port sees them: introspection
// (Introspect.List, Introspect.Describe), health (Health.Check) and the
// reserved $ferry.* control methods (PROTOCOL.md section 4), from raw
// sockets and sessions. The servers are built in process the way
// examples/arith/server builds its own (arith, introspect and health on
// server.New's defaults), so that the heap they allocate can be counted.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/auth"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/debug"
	"github.com/ferryrpc/ferry/examples/arith/arith"
	"github.com/ferryrpc/ferry/health"
	"github.com/ferryrpc/ferry/introspect"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// v15Server serves what examples/arith/server serves, plus opts, on
// 127.0.0.1:0, and returns the server and its address.
func v15Server(t *testing.T, opts ...server.Option) (*server.Server, string) {
	t.Helper()
	s := server.New(opts...)
	require.NoError(t, errors.Join(arith.Register(s), introspect.Register(s), health.NewServer().Register(s)))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		s.Close()
		<-done
	})
	return s, l.Addr().String()
}

// v15Array returns a msgpack array 32 of n copies of the one-byte value b.
func v15Array(n int, b byte) []byte {
	out := make([]byte, 5, 5+n)
	out[0], out[1], out[2], out[3], out[4] = 0xdd, byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	for range n {
		out = append(out, b)
	}
	return out
}

// v15HelloAnswer checks the answer to an accepted hello: the server's own
// message limit, the example server's default (PROTOCOL.md 4).
func v15HelloAnswer(t *testing.T, result any) {
	t.Helper()
	m, ok := result.(map[string]any)
	require.True(t, ok, "the answer %#v", result)
	require.Len(t, m, 1, "the answer %#v", m)
	require.EqualValues(t, transport.DefaultConfig().MaxMessageSize, m["max"])
}

// v15Alloc returns the bytes the process allocated while fn ran.
func v15Alloc(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestAttackVaudit15ControlParamsNotDecodedWhole: a $ferry.hello request
// or a $ferry.cancelstream notification whose params are an array of
// about 4 Mi one-byte values (a message just under MaxMessageSize, 4
// MiB), which any peer of a server without authentication may send, from
// a bare connection or a session, as often as it likes. The server
// decoded the whole array: 96 MiB allocated per hello (an array of nils
// into a slice of the hello's struct), 16 MiB per cancel (into a
// []uint32), none of it charged to a memory budget, in the reader's
// goroutine. Now only the first param is decoded: each message costs
// about what its bytes take to read.
func TestAttackVaudit15ControlParamsNotDecodedWhole(t *testing.T) {
	needAttacks(t)
	_, addr := v15Server(t)
	n := 4<<20 - 64
	hello := rawRequest(enc(uint32(1)), enc("$ferry.hello"), v15Array(n, 0xc0))
	cancel := append([]byte{0x93, 0x02}, append(enc("$ferry.cancelstream"), v15Array(n, 0x01)...)...)
	add := request(2, "Arith.Add", []any{3, 4})
	const rounds = 3
	limit := uint64(rounds * 3 * len(hello)) // three times the bytes sent per message

	t.Run("bare", func(t *testing.T) {
		c := dialRaw(t, addr)
		got := v15Alloc(func() {
			for range rounds {
				c.write(hello)
				r := parseResponse(t, c.read())
				require.Nil(t, r.err)
				v15HelloAnswer(t, r.result)
			}
		})
		t.Logf("%d hellos of %d bytes: %.1f MiB allocated", rounds, len(hello), float64(got)/(1<<20))
		assert.Less(t, got, limit, "a hello's params were decoded whole")
		got = v15Alloc(func() {
			for range rounds {
				c.write(cancel)
			}
			c.write(add)
			r := parseResponse(t, c.read())
			require.Nil(t, r.err)
			assert.EqualValues(t, 7, r.result)
		})
		t.Logf("%d cancels of %d bytes: %.1f MiB allocated", rounds, len(cancel), float64(got)/(1<<20))
		assert.Less(t, got, limit, "a $ferry.cancelstream's params were decoded whole")
	})
	t.Run("session", func(t *testing.T) {
		s := dialSession(t, addr)
		got := v15Alloc(func() {
			for range rounds {
				s.call.write(hello)
				r := parseResponse(t, s.call.read())
				require.Nil(t, r.err)
			}
			for range rounds {
				s.call.write(cancel)
			}
			s.call.write(add)
			r := parseResponse(t, s.call.read())
			require.Nil(t, r.err)
			assert.EqualValues(t, 7, r.result)
		})
		t.Logf("%d hellos and %d cancels: %.1f MiB allocated", rounds, rounds, float64(got)/(1<<20))
		assert.Less(t, got, 2*limit, "control params were decoded whole")
	})
}

// v15Builtins are a request to each built-in method the example server
// serves besides the arithmetic ones, with ext (so that a refusal
// carries its code and "n").
func v15Builtins(msgid uint32) map[string][]byte {
	return map[string][]byte{
		introspect.ListMethod:     request(msgid, introspect.ListMethod, []any{}, map[string]any{}),
		introspect.DescribeMethod: request(msgid, introspect.DescribeMethod, []any{"Arith.Add"}, map[string]any{}),
		health.Method:             request(msgid, health.Method, []any{map[string]any{}}, map[string]any{}),
	}
}

// v15Refused asserts r refuses a call, not executed, with code.
func v15Refused(t *testing.T, r response, code ferry.Code, what string) {
	t.Helper()
	assert.NotNil(t, r.err, what)
	assert.Nil(t, r.result, what)
	assert.EqualValues(t, code, r.code(), what)
	assert.Equal(t, true, r.ext["n"], what)
}

// TestAttackVaudit15BuiltinsNeedAuth checks SECURITY.md "Authentication
// and authorization" and PROTOCOL.md 7 for the built-in methods, on a
// server like the example's with server.WithAuth and an auth.Policy:
// before a hello succeeds, Introspect.List, Introspect.Describe and
// Health.Check are refused with unauthenticated, "n": true, on a session
// and on a bare connection; the AuthFunc runs at most 3 times on a
// connection however many hellos it sends; a policy that does not allow
// introspection refuses it with permission_denied, "n": true, while
// allowing Health.Check; and a later hello with a bad token on an
// authenticated connection changes nothing.
func TestAttackVaudit15BuiltinsNeedAuth(t *testing.T) {
	needAttacks(t)
	const good = "vaudit15-good-token-0123456789"
	var runs atomic.Int32
	authFn := func(_ context.Context, info ferry.AuthInfo) (any, error) {
		runs.Add(1)
		if info.Token == good {
			return "alice", nil
		}
		return nil, errors.New("unknown token")
	}
	policy, err := auth.NewPolicy(auth.Rule{Identity: "alice", Allow: []string{"Arith.*", health.Method}})
	require.NoError(t, err)
	_, addr := v15Server(t, server.WithAuth(authFn), server.WithInterceptors(policy.Interceptor()))

	s := dialSessionWith(t, addr, false)
	// PROTOCOL.md 4: a hello sent as a notification is ignored.
	s.call.write(notification("$ferry.hello", []any{map[string]any{"token": good}}))
	for name, req := range v15Builtins(3) {
		v15Refused(t, parseResponse(t, s.call.read2(req)), ferry.CodeUnauthenticated, name+" before any hello")
	}
	for i := range 6 {
		r := parseResponse(t, s.call.read2(request(uint32(10+i), "$ferry.hello", []any{map[string]any{"token": "wrong-token-" + strings.Repeat("x", 16)}}, map[string]any{})))
		v15Refused(t, r, ferry.CodeUnauthenticated, "a bad hello")
	}
	assert.EqualValues(t, 3, runs.Load(), "the AuthFunc runs at most 3 times on a connection (a hello notification not among them)")
	r := parseResponse(t, s.call.read2(request(20, "$ferry.hello", []any{map[string]any{"token": good}}, map[string]any{})))
	v15Refused(t, r, ferry.CodeUnauthenticated, "a good token after 3 failures")
	for name, req := range v15Builtins(21) {
		v15Refused(t, parseResponse(t, s.call.read2(req)), ferry.CodeUnauthenticated, name+" after the failures")
	}
	assert.EqualValues(t, 3, runs.Load())

	bare := dialRaw(t, addr)
	for name, req := range v15Builtins(4) {
		v15Refused(t, bare.call(req), ferry.CodeUnauthenticated, name+" on a bare connection")
	}

	// An authenticated session: the policy decides.
	a := dialSessionWith(t, addr, false)
	r = parseResponse(t, a.call.read2(request(1, "$ferry.hello", []any{map[string]any{"token": good}}, map[string]any{})))
	require.Nil(t, r.err)
	for _, name := range []string{introspect.ListMethod, introspect.DescribeMethod} {
		v15Refused(t, parseResponse(t, a.call.read2(v15Builtins(5)[name])), ferry.CodePermissionDenied, name+" not allowed")
	}
	r = parseResponse(t, a.call.read2(v15Builtins(6)[health.Method]))
	require.Nil(t, r.err)
	assert.Equal(t, map[string]any{"status": "SERVING"}, r.result)
	before := runs.Load()
	r = parseResponse(t, a.call.read2(request(7, "$ferry.hello", []any{map[string]any{"token": "someone-else-" + strings.Repeat("y", 16)}}, map[string]any{})))
	assert.Nil(t, r.err, "a later hello on an authenticated connection is answered {}")
	assert.Equal(t, before, runs.Load(), "and runs no check")
	r = parseResponse(t, a.call.read2(v15Builtins(8)[health.Method]))
	assert.Nil(t, r.err, "the identity stays")
	v15Refused(t, parseResponse(t, a.call.read2(v15Builtins(9)[introspect.ListMethod])), ferry.CodePermissionDenied, "still alice's policy")

	// A Ferry client with a bad token does not get in.
	_, err = client.Dial(t.Context(), addr, client.WithToken("wrong-token-"+strings.Repeat("z", 16)))
	assert.Equal(t, ferry.CodeUnauthenticated, ferry.CodeOf(err))
}

// TestAttackVaudit15ListingsDoNotGrow: with 1,000 streaming calls and
// 300 bare connections open, the replies of Introspect.List,
// Introspect.Describe and Health.Check are of the size and value they
// had on an idle server (none lists connections or streams), and a name of
// 1 MiB in Describe or Health.Check gets a reply of less than 1 KiB.
func TestAttackVaudit15ListingsDoNotGrow(t *testing.T) {
	needAttacks(t)
	srv, addr := v15Server(t)
	probe := dialRaw(t, addr)
	reqs := v15Builtins(1)
	baseline := map[string][]byte{}
	for name, req := range reqs {
		probe.write(req)
		baseline[name] = probe.readRaw()
		t.Logf("%s: %d bytes", name, len(baseline[name]))
		assert.Less(t, len(baseline[name]), 2048, name)
	}

	s := dialSession(t, addr)
	const streams = 1000
	for range streams {
		s.openCall("Echo.Chat")
	}
	for range 300 {
		c := dialRaw(t, addr)
		c.write(request(1, "Arith.Add", []any{1, 2}))
		c.read()
	}
	require.Eventually(t, func() bool {
		open := 0
		for _, c := range srv.Conns() {
			open += c.StreamingCalls
		}
		return open == streams && len(srv.Conns()) >= 302
	}, 10*time.Second, 20*time.Millisecond, "the streams and connections are open")

	for name, req := range reqs {
		probe.write(req)
		now := probe.readRaw()
		// The same size and value (a schema's properties, a map, may be
		// encoded in another order).
		assert.Len(t, now, len(baseline[name]), name)
		var was, is any
		require.NoError(t, msgpack.Unmarshal(baseline[name], &was))
		require.NoError(t, msgpack.Unmarshal(now, &is))
		assert.Equal(t, was, is, name)
	}

	huge := strings.Repeat("\x01", 1<<20)
	probe.write(request(2, introspect.DescribeMethod, []any{huge}, map[string]any{}))
	raw := probe.readRaw()
	assert.Less(t, len(raw), 1024, "Describe of an unknown 1 MiB name")
	var msg []any
	require.NoError(t, msgpack.Unmarshal(raw, &msg))
	assert.EqualValues(t, ferry.CodeNotFound, parseResponse(t, msg).code(), "an unknown method is a not_found error")
	r := probe.call(request(4, introspect.ListMethod, []any{map[string]any{}}))
	assert.Nil(t, r.err, "List takes [{}] too")
	hr := probe.call(request(3, health.Method, []any{map[string]any{"service": huge}}))
	assert.Equal(t, map[string]any{"status": "UNKNOWN"}, hr.result)
}

// v15Blocker registers V15.Block on s: its handler reports its start on
// started and runs until release is closed (nil error) or its context
// ends (the context's error), reporting which on ended.
func v15Blocker(t *testing.T, s *server.Server) (started chan struct{}, ended chan error, release chan struct{}) {
	t.Helper()
	started, ended, release = make(chan struct{}, 8), make(chan error, 8), make(chan struct{})
	require.NoError(t, server.Handle(s, "V15.Block", func(ctx context.Context, _ *struct{}) (*bool, error) {
		started <- struct{}{}
		select {
		case <-release:
			ended <- nil
			ok := true
			return &ok, nil
		case <-ctx.Done():
			ended <- ctx.Err()
			return nil, ctx.Err()
		}
	}))
	return started, ended, release
}

// v15Recv returns what ch delivers within 5 s, or fails t.
func v15Recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: nothing within 5 s", what)
		var zero T
		return zero
	}
}

// TestAttackVaudit15CancelsStayInTheirSession: $ferry.cancel and
// $ferry.cancelstream name a msgid and a stream id, which every session
// numbers alike (the first call stream's first call, stream 3 for the
// first streaming call). A session that cancels every msgid from 0 to
// 2,047 and every odd stream id from 1 to 2,047 (and so leaves the newest
// 64 remembered for streams it has not opened) cancels neither another
// session's running call, nor its open stream, nor the stream it opens
// next; the same cancels from the call's own session end them.
func TestAttackVaudit15CancelsStayInTheirSession(t *testing.T) {
	needAttacks(t)
	srv, addr := v15Server(t)
	started, ended, release := v15Blocker(t, srv)
	defer close(release)

	victim := dialSession(t, addr)
	victim.call.write(request(7, "V15.Block", []any{}, map[string]any{}))
	v15Recv(t, started, "the victim's call starts")
	chat := victim.openCall("Echo.Chat")
	chat.write(enc([]any{3, "hi"}))
	require.Equal(t, []any{int8(3), "hi"}, chat.read())

	attacker := dialSession(t, addr)
	var batch []byte
	for id := range 2048 {
		batch = append(batch, notification("$ferry.cancel", []any{uint32(id)})...)
		if id%2 == 1 {
			batch = append(batch, notification("$ferry.cancelstream", []any{uint32(id)})...)
		}
	}
	attacker.call.write(batch)
	// Handled in order: once this is answered, the cancels were read.
	r := parseResponse(t, attacker.call.read2(request(2, "Arith.Add", []any{3, 4}, map[string]any{})))
	require.Nil(t, r.err)

	select {
	case err := <-ended:
		t.Fatalf("another session's cancel ended the victim's call: %v", err)
	default:
	}
	chat.write(enc([]any{3, "still"}))
	assert.Equal(t, []any{int8(3), "still"}, chat.read(), "the victim's open stream")
	next := victim.openCall("Echo.Chat") // stream 5, which the attacker canceled in advance
	next.write(enc([]any{3, "next"}))
	assert.Equal(t, []any{int8(3), "next"}, next.read(), "the victim's next stream")

	// From the victim's own session they work, with exactly one param.
	victim.call.write(notification("$ferry.cancelstream", []any{}), notification("$ferry.cancelstream", []any{uint32(3), uint32(3)}),
		notification("$ferry.cancel", []any{uint32(7), uint32(7)}))
	r = parseResponse(t, victim.call.read2(request(8, "Arith.Add", []any{3, 4}, map[string]any{})))
	require.Nil(t, r.err)
	chat.write(enc([]any{3, "two params"}))
	assert.Equal(t, []any{int8(3), "two params"}, chat.read(), "a cancel of params [] or [3, 3] is ignored")
	select {
	case err := <-ended:
		t.Fatalf("$ferry.cancel [7, 7] ended the call: %v", err)
	default:
	}
	victim.call.write(notification("$ferry.cancel", []any{uint32(7)}))
	assert.ErrorIs(t, v15Recv(t, ended, "the victim's own cancel"), context.Canceled)
	victim.call.write(notification("$ferry.cancelstream", []any{uint32(3)}))
	chat.closedByServer()
}

// TestAttackVaudit15ReservedFromAClient checks PROTOCOL.md 4 from a
// client's side: a client's $ferry.goaway, $ferry.drained [0] and an
// unpromised $ferry.settled neither stop the server serving it nor touch
// anyone else (they concern the server's own calls to that client); a reserved notification sent as a
// request, and an unknown reserved request, get unimplemented, "n": true;
// unknown reserved notifications and a hello sent as a notification are
// ignored; 1,000 hellos in a row are each answered {} and leave the
// connection usable.
func TestAttackVaudit15ReservedFromAClient(t *testing.T) {
	needAttacks(t)
	_, addr := v15Server(t)
	s := dialSession(t, addr)
	s.call.write(notification("$ferry.goaway", []any{}), notification("$ferry.drained", []any{0}),
		notification("$ferry.settled", []any{}), notification("$ferry.nope", []any{1}),
		notification("$ferry.hello", []any{map[string]any{"settle": true}}))
	r := parseResponse(t, s.call.read2(request(2, "Arith.Add", []any{3, 4}, map[string]any{})))
	require.Nil(t, r.err, "served after its own go-away")
	assert.EqualValues(t, 7, r.result)

	for _, m := range []string{"$ferry.goaway", "$ferry.cancel", "$ferry.cancelstream", "$ferry.settled", "$ferry.drained"} {
		r := parseResponse(t, s.call.read2(request(3, m, []any{0}, map[string]any{})))
		v15Refused(t, r, ferry.CodeUnimplemented, m+" as a request")
		assert.Contains(t, r.err, "control notification", m)
	}
	v15Refused(t, parseResponse(t, s.call.read2(request(4, "$ferry.nope", []any{}, map[string]any{}))), ferry.CodeUnimplemented, "an unknown reserved request")

	var hellos []byte
	for i := range 1000 {
		hellos = append(hellos, request(uint32(100+i), "$ferry.hello", []any{map[string]any{"settle": i%2 == 0}}, map[string]any{})...)
	}
	s.call.write(hellos)
	for i := range 1000 {
		r := parseResponse(t, s.call.read())
		require.EqualValues(t, 100+i, r.msgid)
		require.Nil(t, r.err)
		v15HelloAnswer(t, r.result)
	}

	c, err := client.Dial(t.Context(), addr)
	require.NoError(t, err)
	defer c.Close()
	st, err := health.Check(t.Context(), c, "")
	require.NoError(t, err)
	assert.Equal(t, health.Serving, st, "another client after the go-away")
	r = parseResponse(t, s.call.read2(request(5, "Arith.Add", []any{1, 1}, map[string]any{})))
	assert.Nil(t, r.err)
}

// TestAttackVaudit15SettlePromisesBoundShutdown checks PROTOCOL.md 4,
// "Going away", step 3 against peers that promise a $ferry.settled in
// their hello and never send it: the server waits for it "for at most the
// write timeout", for all of them at once, so 16 such sessions hold a
// graceful shutdown about one write timeout (1 s here), not 16; a hello
// sent as a notification promises nothing (the baseline, whose sessions
// send one, shuts down without that wait).
func TestAttackVaudit15SettlePromisesBoundShutdown(t *testing.T) {
	needAttacks(t)
	cfg := transport.DefaultConfig()
	cfg.WriteTimeout = time.Second
	shutdown := func(settle bool) time.Duration {
		srv, addr := v15Server(t, server.WithConfig(cfg))
		for range 16 {
			s := dialSessionWith(t, addr, false)
			s.call.write(notification("$ferry.hello", []any{map[string]any{"settle": true}}))
			r := parseResponse(t, s.call.read2(request(1, "$ferry.hello", []any{map[string]any{"settle": settle}}, map[string]any{})))
			require.Nil(t, r.err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 8*time.Second)
		defer cancel()
		start := time.Now()
		require.NoError(t, srv.Shutdown(ctx))
		return time.Since(start)
	}
	base := shutdown(false)
	promised := shutdown(true)
	t.Logf("shutdown with 16 sessions: %v; promising a settle they never send: %v", base, promised)
	assert.Less(t, base, 900*time.Millisecond, "a hello notification promised a settle")
	assert.GreaterOrEqual(t, promised, 900*time.Millisecond, "the server waits for a promised settle")
	assert.Less(t, promised, 3*time.Second, "for at most the write timeout, for all sessions at once")
}

// TestAttackVaudit15DebugKeepsNoNames checks debug.Unregistered's doc,
// "names from the network are not kept: they are unbounded", on a server
// with debug.Stats installed: 1,000 calls to 1,000 names that are not
// registered, each about 1 KiB, and a stream opened to one, leave one row
// that counts them, and the snapshot stays small.
func TestAttackVaudit15DebugKeepsNoNames(t *testing.T) {
	needAttacks(t)
	st := debug.New()
	srv, addr := v15Server(t, st.Option())
	c := dialRaw(t, addr)
	const n = 1000
	var batch []byte
	for i := range n {
		batch = append(batch, request(uint32(i), fmt.Sprintf("Nope%d.%s", i, strings.Repeat("x", 1000)), []any{}, map[string]any{})...)
	}
	c.write(batch)
	for range n {
		assert.EqualValues(t, ferry.CodeUnimplemented, parseResponse(t, c.read()).code())
	}
	s := dialSession(t, addr)
	_, status := s.openCall("Nope.Stream").status()
	assert.EqualValues(t, ferry.CodeUnimplemented, status.code())

	// The stream's refusal is counted after its status is sent.
	var snap debug.Snapshot
	var unregistered uint64
	kept := 0
	assert.Eventually(t, func() bool {
		snap = st.Snapshot(srv)
		unregistered, kept = 0, 0
		for _, m := range snap.Methods {
			if m.Name == debug.Unregistered {
				unregistered = m.Refused
			}
			if strings.HasPrefix(m.Name, "Nope") {
				kept++
			}
		}
		return unregistered == n+1
	}, 5*time.Second, 5*time.Millisecond, "the stream's refusal is counted")
	unary := 0
	for _, m := range srv.Methods() {
		if m.Kind == "unary" {
			unary++
		}
	}
	assert.Len(t, snap.Methods, unary+1, "a row per registered unary method and one for the rest")
	assert.Zero(t, kept, "rows named by the network")
	assert.EqualValues(t, n+1, unregistered, "the calls and the stream to names not registered")
}

// TestAttackVaudit15HelloFlood: the example server (192 MiB Go memory
// limit) under four connections sending $ferry.hello requests of 4 MiB
// whose params are 4 Mi nils, each waiting for its answer, for 3 s. When
// the whole array was decoded (100 MiB a hello) its RSS peaked at 414
// MiB and it used 6.2 s of CPU for 13 hellos (run of 2026-12-07); now
// the siege's bounds hold (RSS under 256 MiB, fresh calls within 2 s).
func TestAttackVaudit15HelloFlood(t *testing.T) {
	needAttacks(t)
	s := besiege(t)
	hello := rawRequest(enc(uint32(1)), enc("$ferry.hello"), v15Array(4<<20-64, 0xc0))
	var sent atomic.Int64
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			conn, err := net.Dial("tcp", s.p.addr)
			if err != nil {
				return
			}
			defer conn.Close()
			r := bufio.NewReaderSize(conn, 64<<10)
			until(3*time.Second, 10_000, func(int) bool {
				_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := conn.Write(hello); err != nil {
					return false
				}
				var reply msgpack.RawMessage
				if msgpack.NewDecoder(r).Decode(&reply) != nil {
					return false
				}
				sent.Add(1)
				return true
			})
		}()
	}
	for range 4 {
		<-done
	}
	t.Logf("%d hellos of 4 MiB answered", sent.Load())
	assert.Positive(t, sent.Load())
	s.finish()
}
