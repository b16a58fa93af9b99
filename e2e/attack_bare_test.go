package e2e_test

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// floodResult is what one attacking connection saw.
type floodResult struct {
	bytes  int64
	msgs   int
	err    error // the write error that stopped it, if any
	closed bool  // the server closed the connection (EOF or reset on read)
}

// floodBare writes msg(i) back to back, in batches of about 256 KiB, on a
// bare connection that never reads, for d; then it reads for a moment to
// see whether the server closed the connection.
func floodBare(addr string, d time.Duration, msg func(i int) []byte) floodResult {
	var r floodResult
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		r.err = err
		return r
	}
	defer conn.Close()
	var buf []byte
	i := 0
	until(d, 1_000_000, func(int) bool {
		buf = buf[:0]
		for len(buf) < 256<<10 {
			buf = append(buf, msg(i)...)
			i++
		}
		_ = conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
		n, err := conn.Write(buf)
		r.bytes += int64(n)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() { // the server is not reading: keep trying
				return true
			}
			r.err = err
			return false
		}
		r.msgs = i
		return true
	})
	_ = conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	_, err = io.Copy(io.Discard, conn)
	var ne net.Error
	r.closed = err == nil || !errors.As(err, &ne) || !ne.Timeout()
	return r
}

// attackBare runs conns flooding connections against a fresh example
// server for d and checks the targets.
func attackBare(t *testing.T, conns int, d time.Duration, msg func(i int) []byte) {
	s := besiege(t)
	results := make([]floodResult, conns)
	var wg sync.WaitGroup
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[c] = floodBare(s.p.addr, d, msg)
		}()
	}
	wg.Wait()
	for c, r := range results {
		t.Logf("attacker %d: %.1f MiB, %d messages sent; stopped by %v; closed by the server: %t",
			c, float64(r.bytes)/(1<<20), r.msgs, r.err, r.closed)
	}
	s.finish()
}

// longName is an unknown method name of n bytes.
func longName(n int) string { return "No.Such" + strings.Repeat("x", n-7) }

// str32 encodes s as a str32.
func str32(s string) []byte {
	b := binary.BigEndian.AppendUint32([]byte{0xdb}, uint32(len(s)))
	return append(b, s...)
}

// TestAttackBareFloods: bare MessagePack-RPC connections that write as
// fast as they can and never read, with messages that need no reply
// (notifications, responses to calls the server never made, cancels) or
// whose replies pile up unread.
func TestAttackBareFloods(t *testing.T) {
	needAttacks(t)
	const (
		conns = 4
		d     = 4 * time.Second
	)
	bin64k := append(binHeader(64<<10), make([]byte, 64<<10)...)
	name := longName(60 << 10)
	cases := []struct {
		name string
		msg  func(i int) []byte
	}{
		// Handlers run for notifications, but nothing is written back:
		// reading gives no back-pressure.
		{"notify-echo-64k", func(int) []byte {
			return append(append([]byte{0x93, 0x02}, str8("Echo.Echo")...), append([]byte{0x91}, bin64k...)...)
		}},
		{"notify-add", func(int) []byte { return notification("Arith.Add", []any{3, 4}) }},
		{"notify-unknown-60k-name", func(int) []byte {
			return append(append([]byte{0x93, 0x02}, str32(name)...), 0x90)
		}},
		// Unknown methods answer with an error naming the method: the
		// error must not grow with the name.
		{"request-unknown-60k-name", func(i int) []byte {
			b := binary.BigEndian.AppendUint32([]byte{0x94, 0x00, 0xce}, uint32(i))
			return append(append(b, str32(name)...), 0x90)
		}},
		// Responses for ids the server never used, each with a 64 KiB
		// result.
		{"response-unused-ids", func(i int) []byte {
			b := binary.BigEndian.AppendUint32([]byte{0x94, 0x01, 0xce}, uint32(i))
			return append(append(b, 0xc0), bin64k...)
		}},
		// Cancels of requests that do not exist.
		{"cancel-bogus-ids", func(i int) []byte {
			return notification("$ferry.cancel", []any{uint32(i)})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { attackBare(t, conns, d, c.msg) })
	}
}

// TestAttackExtTimeouts: requests whose ext carries deadlines at and past
// the ends of their range, or of the wrong type: every one is answered,
// none stops the connection, and a flood of calls with the largest
// deadline leaves nothing behind.
func TestAttackExtTimeouts(t *testing.T) {
	needAttacks(t)
	s := besiege(t)
	c := dialRaw(t, s.p.addr)
	for i, tv := range []any{
		int64(1<<63 - 1), int64(-1 << 63), int64(-1), int64(0), uint64(1<<64 - 1),
		"1s", 1.5, []any{1}, map[string]any{"t": 1}, nil, true,
	} {
		r := c.call(request(uint32(i+1), "Arith.Add", []any{3, 4}, map[string]any{"t": tv}))
		assert.EqualValues(t, i+1, r.msgid)
		if r.err == nil {
			assert.EqualValues(t, 7, r.result, "t = %v", tv)
		}
		t.Logf("t = %#v: error %v, code %d", tv, r.err, r.code())
	}
	// A flood of calls with the largest deadline, read as they come.
	n := pipelineAdd(t, c, 20, map[string]any{"t": int64(1<<63 - 1)}, func(i int) uint32 { return uint32(i) })
	t.Logf("%d calls with t = MaxInt64 answered", n)
	s.finish()
}

// pipelineAdd writes batches of 1,000 Arith.Add requests with ext and the
// msgid id(i), reads the 1,000 responses after each, and returns how many
// were answered; it fails t if one is not, or is an error.
func pipelineAdd(t *testing.T, c *rawConn, batches int, ext map[string]any, id func(i int) uint32) int {
	t.Helper()
	const batch = 1000
	answered := 0
	until(10*time.Second, batches, func(b int) bool {
		var buf []byte
		for i := range batch {
			buf = append(buf, request(id(b*batch+i), "Arith.Add", []any{3, 4}, ext)...)
		}
		c.write(buf)
		for range batch {
			r := parseResponse(t, c.read())
			require.Nil(t, r.err, "response %d", answered)
			require.EqualValues(t, 7, r.result)
			answered++
		}
		return true
	})
	require.Positive(t, answered)
	return answered
}

// TestAttackDuplicateMsgids: pipelined requests that all use the same
// msgid, with an ext (so each can be canceled by it). Every one is
// answered: a later request with the id of a running one must not make
// the server drop the earlier one's response (its caller would wait for
// it forever).
func TestAttackDuplicateMsgids(t *testing.T) {
	needAttacks(t)
	s := besiege(t)
	c := dialRaw(t, s.p.addr)
	n := pipelineAdd(t, c, 5, map[string]any{}, func(int) uint32 { return 7 })
	t.Logf("%d requests with msgid 7 answered", n)
	s.finish()
}
