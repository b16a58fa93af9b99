package e2e_test

// vaudit15: the example server's built-in methods besides the arithmetic
// ones, as an attacker on an open port sees them: introspection
// (Introspect.List, Introspect.Describe), health (Health.Check) and the
// reserved $ferry.* control methods (PROTOCOL.md section 4), from raw
// sockets and sessions. The servers are built in process the way
// examples/arith/server builds its own (arith, introspect and health on
// server.New's defaults), so that the heap they allocate can be counted.

import (
	"errors"
	"net"
	"runtime"
	"testing"

	"github.com/ferryrpc/ferry/examples/arith/arith"
	"github.com/ferryrpc/ferry/health"
	"github.com/ferryrpc/ferry/introspect"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
				assert.Equal(t, map[string]any{}, r.result)
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
