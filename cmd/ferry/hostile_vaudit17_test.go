package main

import (
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/ferryrpc/ferry/introspect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// v17Server is a hostile bare MessagePack-RPC server: it answers every
// request with the result reply(method), encoded, for as many connections
// as the test makes.
func v17Server(t *testing.T, reply func(method string) []byte) string {
	t.Helper()
	return v17ServerRaw(t, func(method string) []byte { return append([]byte{0xc0}, reply(method)...) })
}

// v17ServerRaw is v17Server answering the error and the result
// reply(method) returns, encoded one after the other.
func v17ServerRaw(t *testing.T, reply func(method string) []byte) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			v17Answer(nc, reply)
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return l.Addr().String()
}

// v17Answer answers the requests on nc until the client leaves.
func v17Answer(nc net.Conn, reply func(method string) []byte) {
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	r := wire.NewReader(nc, wire.Limits{MaxMessage: 1 << 20, MaxDepth: 32})
	for range 100 {
		b, err := r.Next()
		if err != nil {
			return
		}
		m, err := wire.Parse(b)
		if err != nil || m.Type != wire.TypeRequest {
			continue
		}
		resp := msgpack.AppendUint(append(msgpack.AppendArrayHeader(nil, 4), wire.TypeResponse), uint64(m.ID))
		if _, err := nc.Write(append(resp, reply(string(m.Method))...)); err != nil {
			return
		}
	}
}

// v17NestedKeys is {{…{{"a": 1}: 1}…: 1}: 1}, a map whose key is a map
// whose key is a map, depth levels deep: 4 + 2 × depth bytes.
func v17NestedKeys(depth int) []byte {
	v := []byte{0x81, 0xa1, 'a', 0x01}
	for range depth {
		v = append(append([]byte{0x81}, v...), 0x01)
	}
	return v
}

// TestVaudit17NestedMapKeysBounded: a map key that is not a string prints
// as its JSON text, so each map used as a key inside a key escapes the
// text of the one inside it again: the text doubled with each level, and
// a 44-byte result nested 20 deep printed 4 MiB (a 124-byte one, 60 deep,
// would need exabytes). toJSON now refuses JSON more than 16 times the
// value's size plus 1 MiB, at once, and `ferry call` exits 1 saying so.
func TestVaudit17NestedMapKeysBounded(t *testing.T) {
	for _, depth := range []int{20, 60} {
		v := v17NestedKeys(depth)
		// The work is bounded by what toJSON allocates, not timed (a
		// loaded CI machine took 4.3 s under the race detector): the
		// doubling text of 60 levels would need exabytes.
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		out, err := toJSON(v, jsonOptions{})
		runtime.ReadMemStats(&after)
		require.Error(t, err, "%d levels, %d bytes: %d bytes of JSON", depth, len(v), len(out))
		require.ErrorIs(t, err, errJSONSize)
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%d levels: refused after %.1f MiB allocated", depth, float64(alloc)/(1<<20))
		assert.Less(t, alloc, uint64(64<<20), "%d levels", depth)
	}
	// A few levels, and large values within the bound, still print.
	out, err := toJSON(v17NestedKeys(2), jsonOptions{})
	require.NoError(t, err)
	assert.Equal(t, `{"{\"{\\\"a\\\":1}\":1}":1}`, string(out))
	nils := append([]byte{0xdd, 0, 0x10, 0, 0}, make([]byte, 1<<20)...)
	for i := 5; i < len(nils); i++ {
		nils[i] = 0xc0 // 1 Mi nils: "null," each, 5 bytes of JSON per byte
	}
	out, err = toJSON(nils, jsonOptions{})
	require.NoError(t, err)
	assert.Len(t, out, 5<<20+1)

	addr := v17Server(t, func(string) []byte { return v17NestedKeys(60) })
	start := time.Now()
	r := ferryCmd(t, "call", "-plain", addr, "X.Y")
	assert.Equal(t, exitFail, r.code, r.stderr)
	assert.Contains(t, r.stderr, "ferry: the result does not print: its JSON would be too large: more than")
	assert.Empty(t, r.stdout)
	assert.Less(t, time.Since(start), 5*time.Second)
}

// TestVaudit17CheckHostileIntFormat: `ferry call` checks params against
// the description the server sends, whose integer format is the server's
// word: "int-1" made the check panic (a negative shift), and
// "int99999999999" made it allocate a 2^99999999998 bound: 24 GB and 3
// minutes until the kernel killed it. A width other than 8, 16, 32 or 64
// is now taken as 64, as an unknown format already was.
func TestVaudit17CheckHostileIntFormat(t *testing.T) {
	desc := func(format string) *introspect.Description {
		return &introspect.Description{Name: "X.Y", Kind: "unary", Args: &introspect.Schema{Type: "integer", Format: format}}
	}
	for _, format := range []string{"int-1", "uint-1", "int0", "uint-64", "int70", "uint128"} {
		var errs []string
		require.NotPanics(t, func() { errs = checkParams(`[1e30]`, desc(format)) }, format)
		assert.Len(t, errs, 1, format)
		assert.NotPanics(t, func() { errs = checkParams(`[5]`, desc(format)) }, format)
		assert.Empty(t, errs, format)
	}
	start := time.Now()
	errs := checkParams(`[5]`, desc("int99999999999"))
	assert.Empty(t, errs)
	errs = checkParams(`[-5]`, desc("uint99999999999"))
	assert.Equal(t, []string{"argument 1: want an integer from 0 to 18446744073709551615 (uint99999999999), got -5"}, errs)
	assert.Less(t, time.Since(start), time.Second)

	// The same through the CLI, against a server whose description says so.
	addr := v17Server(t, func(method string) []byte {
		if method != introspect.DescribeMethod {
			return []byte{0x07}
		}
		b, err := codec.Marshal(desc("int99999999999"))
		require.NoError(t, err)
		return b
	})
	r := ferryCmd(t, "call", "-plain", addr, "X.Y", "[5]")
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "7\n", r.stdout)
	assert.False(t, strings.Contains(r.stderr, "panic"), r.stderr)
}

// v17RepeatedFields is a description whose args nest depth structs, each
// naming its one field twice in "order": {a: {a: …, a: …}, a: {…}}.
func v17RepeatedFields(depth int) introspect.Description {
	s := &introspect.Schema{Type: "integer", Format: "int64"}
	for range depth {
		s = &introspect.Schema{Type: "object", Properties: map[string]*introspect.Schema{"a": s}, Order: []string{"a", "a"}, Required: []string{"a"}}
	}
	return introspect.Description{Name: "X.Y", Kind: "unary", Args: s}
}

// TestVaudit17DescribeRepeatedFieldsBounded: describe printed a struct's
// fields in the order the server listed them, and a field listed twice
// printed its type twice: nested, the text doubled per level (876 bytes
// of description, 22 levels, printed 80 MB with 400 MB of memory in 6.5
// s; 28 levels would need 25 GB). A field is now printed once, as a Go
// struct has it.
func TestVaudit17DescribeRepeatedFieldsBounded(t *testing.T) {
	for _, depth := range []int{12, 40} {
		var out strings.Builder
		writeDescription(&out, v17RepeatedFields(depth))
		require.Less(t, out.Len(), 64*depth+200, "%d levels", depth)
	}
	var out strings.Builder
	writeDescription(&out, v17RepeatedFields(2))
	assert.Equal(t, "X.Y (unary)\n  args:  {a: {a: int64}}\n         positional params: [a, a]\n  reply: (untyped)\n", out.String())

	addr := v17Server(t, func(string) []byte {
		b, err := codec.Marshal(v17RepeatedFields(28))
		require.NoError(t, err)
		return b
	})
	start := time.Now()
	r := ferryCmd(t, "describe", "-plain", addr, "X.Y")
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Less(t, len(r.stdout), 4096)
	assert.Less(t, time.Since(start), 5*time.Second)
}

// TestVaudit17ListWidthBounded: list padded every method name to the
// longest one, so one long name from the server multiplied the output by
// the number of methods (one 100 KiB name and 100 short ones printed 10
// MB; a 32 MiB name and a million short ones, 32 TB). The padding now
// stops at 64 bytes: a longer name only pushes its own kind out.
func TestVaudit17ListWidthBounded(t *testing.T) {
	long := "S." + strings.Repeat("x", 100<<10)
	list := introspect.ListReply{Services: []introspect.Service{{Name: "S", Methods: []introspect.Method{{Name: long, Kind: "unary"}}}}}
	for i := range 100 {
		list.Services[0].Methods = append(list.Services[0].Methods, introspect.Method{Name: "S.M" + string(rune('a'+i%26)), Kind: "unary"})
	}
	addr := v17Server(t, func(string) []byte {
		b, err := codec.Marshal(list)
		require.NoError(t, err)
		return b
	})
	r := ferryCmd(t, "list", "-plain", addr)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Less(t, len(r.stdout), len(long)+100*80, "bytes printed")
	lines := strings.Split(r.stdout, "\n")
	require.Greater(t, len(lines), 3)
	assert.Equal(t, "  "+long+"  unary", lines[1])
	assert.Equal(t, "  S.Ma"+strings.Repeat(" ", 60)+"  unary", lines[2])
}

// TestVaudit17ServerTextCannotDriveTheTerminal: what a server sends is
// printed to a terminal: its error messages and details, method names
// and kinds (list, describe) and a health status. Control characters in
// them (ESC starts the sequences that clear the screen, move the cursor,
// set the window title or rewrite what was printed) were printed as they
// came; they are now shown escaped (\x1b), and JSON output escapes them
// as JSON does.
func TestVaudit17ServerTextCannotDriveTheTerminal(t *testing.T) {
	const evil = "\x1b]0;owned\x07\x1b[2J\x1b[1A\rSERVING\u009b31m\x7f"
	noControls := func(t *testing.T, what, s string) {
		t.Helper()
		control := func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' || r >= 0x7f && r < 0xa0 }
		assert.Equal(t, -1, strings.IndexFunc(s, control), "%s: a control character in %q", what, s)
	}
	str := func(s string) []byte { return msgpack.AppendString(nil, s) }

	addr := v17ServerRaw(t, func(string) []byte { return append(str("refused: "+evil), 0xc0) })
	r := ferryCmd(t, "call", "-plain", addr, "X.Y")
	assert.Equal(t, 12, r.code, r.stderr)
	noControls(t, "call's error", r.stderr)
	assert.Contains(t, r.stderr, `ferry: unknown: refused: \x1b]0;owned\a\x1b[2J\x1b[1A\rSERVING\u009b31m\x7f`)

	addr = v17Server(t, func(string) []byte { return str(evil) })
	r = ferryCmd(t, "call", "-plain", addr, "X.Y")
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, `"\u001b]0;owned\u0007\u001b[2J\u001b[1A\rSERVING\u009b31m\u007f"`+"\n", r.stdout)

	list := introspect.ListReply{Services: []introspect.Service{{Name: "S" + evil, Methods: []introspect.Method{{Name: "S.M" + evil, Kind: "unary" + evil}}}}}
	desc := introspect.Description{Name: "S.M" + evil, Kind: "unary" + evil, Args: &introspect.Schema{Type: "object", Properties: map[string]*introspect.Schema{"A" + evil: {Type: "integer", Format: "int" + evil}}, Order: []string{"A" + evil, "B"}},
		Defs: map[string]*introspect.Schema{"T" + evil: {Type: "string" + evil}}}
	addr = v17Server(t, func(method string) []byte {
		var v any = list
		switch method {
		case introspect.DescribeMethod:
			v = desc
		case healthMethod:
			v = map[string]string{"status": "SERVING" + evil}
		}
		b, err := codec.Marshal(v)
		require.NoError(t, err)
		return b
	})
	for _, args := range [][]string{{"list"}, {"describe", "-plain", addr, "S.M"}, {"describe", "-plain", addr, "S" + evil}, {"health"}, {"list", "-json"}, {"describe", "-json", "-plain", addr, "S.M"}} {
		if len(args) < 3 {
			args = append(args, "-plain", addr)
		}
		r := ferryCmd(t, args...)
		noControls(t, strings.Join(args[:1], " ")+" stdout", r.stdout)
		noControls(t, strings.Join(args[:1], " ")+" stderr", r.stderr)
		assert.NotEmpty(t, r.stdout+r.stderr, "%q", args)
	}
}

// TestVaudit17DeepParamsRefused: params nested deeper than a message may
// carry them went out, and the server, reading a protocol error, closed
// the connection: the call failed as unavailable, "may or may not have
// executed", with the hint to try -plain, though no server ever ran it.
// JSON 3,000,000 arrays deep (6 MB) crashed the CLI itself (fatal stack
// overflow). Both are now refused before connecting, with exit status 1
// and a message that says why; 63 levels, the most the server reads,
// still go out.
func TestVaudit17DeepParamsRefused(t *testing.T) {
	addr := arithServer(t, true)
	nest := func(n int) string { return strings.Repeat("[", n) + "1" + strings.Repeat("]", n) }

	r := ferryCmd(t, "call", "-compact", addr, "Echo.Echo", nest(63))
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, nest(62)+"\n", r.stdout, "the params array is the outer one")
	r = ferryCmd(t, "call", "-compact", addr, "Echo.Echo", `{"a":`+nest(61)+`}`)
	require.Equal(t, exitOK, r.code, r.stderr)

	for _, js := range []string{nest(64), `{"a":` + nest(62) + `}`, nest(70)} {
		r = ferryCmd(t, "call", addr, "Echo.Echo", js)
		require.Equal(t, exitFail, r.code, "%d bytes: %s", len(js), r.stderr)
		assert.Equal(t, "ferry: the JSON nests deeper than a message may carry it: 63 arrays and objects (PROTOCOL.md, section 5)\n", r.stderr)
	}
	r = ferryCmdIn(t, nest(3)+"\n"+nest(64)+"\n", "call", addr, "Echo.Chat")
	assert.Equal(t, exitFail, r.code, r.stderr)
	assert.Contains(t, r.stderr, "line 2: the JSON nests deeper than a message may carry it")

	_, err := fromJSON([]byte(nest(3_000_000)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nests deeper than a message may carry it")
}

// TestVaudit17NoPlainHintOncePlain: a call that fell back to bare
// MessagePack-RPC (the server answered the session's first bytes as
// Neovim does) and then lost its connection was told that such a server
// "needs -plain": it had just been called plainly. The fallback now counts
// as -plain, for the hint as for the rest.
func TestVaudit17NoPlainHintOncePlain(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 10 {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
			first := make([]byte, 1)
			if _, err := nc.Read(first); err == nil && first[0] == 0x00 {
				// Neovim's answer to bytes it cannot read.
				resp := msgpack.AppendArrayHeader(nil, 4)
				resp = append(msgpack.AppendUint(append(resp, wire.TypeResponse), 0), 0x92, 0x01)
				resp = msgpack.AppendNil(msgpack.AppendString(resp, "Message is not an array"))
				_, _ = nc.Write(resp)
				// Close after the client does: closing with its bytes
				// unread would reset the connection, and a reset can
				// discard the answer before the client reads it (then
				// the CLI saw a silent server, 1 run in 10 beside
				// other tests).
				_ = nc.(*net.TCPConn).CloseWrite()
				_, _ = io.Copy(io.Discard, nc)
			}
			nc.Close() // a plain request is read, never answered
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	r := ferryCmd(t, "call", "-timeout", "3s", l.Addr().String(), "X.Y")
	assert.Equal(t, 24, r.code, r.stderr)
	assert.Contains(t, r.stderr, "ferry: unavailable")
	assert.NotContains(t, r.stderr, "needs -plain")
}
