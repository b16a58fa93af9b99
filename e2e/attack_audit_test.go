package e2e_test

// Attacks on the example server that the other attack_*_test.go files and
// scripts/attack do not make (an audit of their gaps): decoding bombs that
// the memory budget's estimate must cover, Ferry's control methods with
// the wrong params, yamux frames that break the session's rules, and
// connections that open slowly or half-close.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
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

// bareConn is a bare MessagePack-RPC connection for an attacking
// goroutine: its methods return errors rather than failing a test.
type bareConn struct {
	conn net.Conn
	dec  *msgpack.Decoder
}

func dialBare(addr string) (*bareConn, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &bareConn{conn: conn, dec: msgpack.NewDecoder(bufio.NewReaderSize(conn, 64<<10))}, nil
}

// send writes b within 5 s.
func (c *bareConn) send(b []byte) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.conn.Write(b)
	return err
}

// next reads the next message within 5 s.
func (c *bareConn) next() ([]any, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var msg []any
	err := c.dec.Decode(&msg)
	return msg, err
}

// mapBomb is an Echo.Map request whose map holds, under "a", an array of
// n copies of el.
func mapBomb(msgid uint32, el []byte, n int) []byte {
	arg := binary.BigEndian.AppendUint32([]byte{0x81, 0xa1, 'a', 0xdd}, uint32(n))
	arg = append(arg, bytes.Repeat(el, n)...)
	head := binary.BigEndian.AppendUint32([]byte{0x94, 0x00, 0xce}, msgid)
	return append(append(append(head, str8("Echo.Map")...), 0x91), arg...)
}

// chain is k one-entry maps nested one in the other around nil:
// {"": {"": ... nil}}, two bytes a map.
func chain(k int) []byte {
	return append(bytes.Repeat([]byte{0x81, 0xa0}, k), 0xc0)
}

// TestAuditMapBombCharged: the example server charges a map[string]any
// argument what it may decode into (up to 256 bytes a byte), not 24 bytes
// a byte: 1.9 MiB of nested one-entry maps, which decode into some 300 MiB,
// is refused before decoding (resource_exhausted, not executed, the
// connection goes on), while 16 KiB of them is answered.
func TestAuditMapBombCharged(t *testing.T) {
	srv := startArith(t, buildArithServer(t))
	c := dialRaw(t, srv.addr)
	withExt := func(req []byte) []byte { // [0, id, method, params, {}]
		req[0] = 0x95
		return append(req, 0x80)
	}
	r := c.call(withExt(mapBomb(1, chain(58), (1900<<10)/117)))
	require.EqualValues(t, 8, r.code(), "error %v", r.err)
	assert.Equal(t, true, r.ext["n"], "not executed")
	r = c.call(mapBomb(2, chain(58), (16<<10)/117))
	assert.Nil(t, r.err)
	assert.EqualValues(t, 2, r.msgid)
	r = c.call(request(3, "Arith.Add", []any{3, 4}))
	assert.EqualValues(t, 7, r.result, "the connection goes on")
}

// TestAttackAuditMapBombs: Echo.Map (a map[string]any argument) with
// arrays of the values that decode into the most memory per byte: one-entry
// maps (three bytes, 0x81 0xa0 0xc0, become a Go map of ~350 bytes) and
// chains of 58 nested one-entry maps (two bytes a map, ~165 bytes a byte).
// Each size, from 64 KiB to 1.9 MiB, is sent for 2 s, one call at a time
// on each of two connections: the memory budget must charge each call what
// it will decode into (it charged 24 bytes a byte, so that one call of
// 1.9 MiB was admitted and took the server past 350 MiB), so that the
// calls it admits stay within the RSS bound.
func TestAttackAuditMapBombs(t *testing.T) {
	needAttacks(t)
	s := besiege(t)
	for _, bomb := range [][]byte{
		mapBomb(0, []byte{0x81, 0xa0, 0xc0}, (1<<20)/3),
		mapBomb(0, chain(58), (64<<10)/117),
		mapBomb(0, chain(58), (180<<10)/117),
		mapBomb(0, chain(58), (1<<20)/117),
		mapBomb(0, chain(58), (1900<<10)/117),
	} {
		var wg sync.WaitGroup
		notes := make([]string, 2)
		for i := range notes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				notes[i] = pipelineBombs(s.p.addr, bomb, 2*time.Second)
			}()
		}
		wg.Wait()
		t.Logf("%d KiB a request: %v; RSS now %d MiB", len(bomb)>>10, notes, s.rss()>>20)
		s.alive()
	}
	s.finish()
}

// pipelineBombs writes req over and over on a bare connection, one call at
// a time, for d, reading the replies; it reports how many were answered,
// how many refused (and the first refusal), and what stopped it.
func pipelineBombs(addr string, req []byte, d time.Duration) string {
	c, err := dialBare(addr)
	if err != nil {
		return err.Error()
	}
	defer c.conn.Close()
	answered, refused, inflight := 0, 0, 0
	var stop error
	var first any
	until(d, 10_000, func(int) bool {
		for ; inflight < 1; inflight++ {
			if stop = c.send(req); stop != nil {
				return false
			}
		}
		var msg []any
		if msg, stop = c.next(); stop != nil {
			return false
		}
		inflight--
		if len(msg) >= 3 && msg[2] == nil {
			answered++
		} else {
			refused++
			if first == nil && len(msg) >= 3 {
				first = msg[2]
			}
		}
		return true
	})
	return fmt.Sprintf("%d answered, %d refused (first: %v), stopped by %v", answered, refused, first, stop)
}

// TestAuditIdleStreamsCharged: every running streaming handler is charged
// to the memory budget. Four sessions open 1,000 Echo.Chat streams each
// on the example server (a 48 MiB server budget) and send nothing after
// the opening request: past about 2,800 running handlers the server-wide
// budget is full, and the server ends the session holding the most (before,
// a handler was charged 1 KiB and all 4,000 were held, at ~19 KiB each).
// The sessions left still echo, and a fresh client is served.
func TestAuditIdleStreamsCharged(t *testing.T) {
	srv := startArith(t, buildArithServer(t))
	open := append([]byte{0xc1}, request(0, "Echo.Chat", []any{}, map[string]any{})...)
	var sessions []*yamux.Session
	var lasts []*yamux.Stream
	for range 4 {
		a, err := dialAttackSession(srv.addr)
		require.NoError(t, err)
		t.Cleanup(func() { a.sess.Close() })
		sessions = append(sessions, a.sess)
		for i := range 1000 {
			st, err := a.sess.OpenStream()
			require.NoError(t, err)
			require.NoError(t, st.SetWriteDeadline(time.Now().Add(5*time.Second)))
			_, err = st.Write(open)
			require.NoError(t, err)
			if i == 999 {
				lasts = append(lasts, st)
			}
		}
	}
	var last *yamux.Stream
	require.Eventually(t, func() bool {
		for _, s := range sessions {
			if s.IsClosed() {
				return true
			}
		}
		return false
	}, 5*time.Second, 10*time.Millisecond, "the server ends a session once its handlers fill the budget")
	for i, s := range sessions {
		if !s.IsClosed() {
			last = lasts[i]
		}
	}
	require.NotNil(t, last, "a session is left")
	require.NoError(t, last.SetDeadline(time.Now().Add(5*time.Second)))
	_, err := last.Write(frame("hi"))
	require.NoError(t, err)
	var msg []any
	require.NoError(t, msgpack.NewDecoder(last).Decode(&msg))
	assert.Equal(t, []any{int8(3), "hi"}, msg, "the sessions left are served")
	took, err := probeAdd(srv.addr)
	require.NoError(t, err)
	assert.Less(t, took, siegeProbeLimit)
}

// TestAttackAuditIdleStreams: sessions that open as many Echo.Chat
// streams as the server serves (MaxStreams, 1,024 a session, the call
// stream included), send the opening request on each and then nothing:
// each is a running handler waiting for a message, which holds about
// 19 KiB. Ninety-six sessions hold them for 3 s. A running streaming
// handler is charged to the memory budget like a unary call (16 KiB), so
// the server refuses streams past its budget rather than holding tens of
// thousands of handlers (before, it charged 1 KiB a stream, and its RSS
// passed 275 MiB); it must stay within the RSS bound and serve fresh
// clients.
func TestAttackAuditIdleStreams(t *testing.T) {
	needAttacks(t)
	s := besiege(t)
	open := append([]byte{0xc1}, request(0, "Echo.Chat", []any{}, map[string]any{})...)
	var opened, refused atomic.Int64
	sessionAttackers(t, s.p.addr, 96, func(i int, a *attackSession) string {
		var streams []*yamux.Stream
		n := until(4*time.Second, 1023, func(int) bool {
			st, err := a.sess.OpenStream()
			if err != nil {
				return false
			}
			streams = append(streams, st)
			_ = st.SetWriteDeadline(time.Now().Add(2 * time.Second))
			_, err = st.Write(open)
			return err == nil
		})
		opened.Add(int64(n))
		hold := time.NewTimer(3 * time.Second)
		<-hold.C
		// A stream the server refused got a final status, or was reset.
		r := 0
		for _, st := range streams {
			_ = st.SetReadDeadline(time.Now().Add(time.Millisecond))
			var b [1]byte
			if _, err := st.Read(b[:]); !errors.Is(err, yamux.ErrTimeout) {
				r++
			}
		}
		refused.Add(int64(r))
		return fmt.Sprintf("%d streams opened, %d answered or reset, RSS now %d MiB", n, r, s.rss()>>20)
	})
	t.Logf("%d streams opened, %d answered or reset", opened.Load(), refused.Load())
	assert.Positive(t, opened.Load())
	s.finish()
}

// TestAuditDescribeLongName: Introspect.Describe (registered by the
// example server) quotes at most 128 bytes of an unknown name in its
// not_found error: quoted whole, 1 MiB of control bytes made a 4 MiB
// message (sent cut to 64 KiB), and 4 MiB a 16 MiB one.
func TestAuditDescribeLongName(t *testing.T) {
	srv := startArith(t, buildArithServer(t))
	c := dialRaw(t, srv.addr)
	name := string(bytes.Repeat([]byte{0x01}, 1<<20))
	r := c.call(request(1, "Introspect.Describe", []any{name}, map[string]any{}))
	require.EqualValues(t, 5, r.code(), "not_found: %.100v", r.err)
	msg, _ := r.err.(string)
	assert.Less(t, len(msg), 1024, "the error quotes a cut name")
	r = c.call(request(2, "Arith.Add", []any{3, 4}))
	assert.EqualValues(t, 7, r.result, "the connection goes on")
}

// TestAttackAuditDescribeNames: Introspect.Describe with names of nearly
// 4 MiB of control bytes, which quoted whole made an error of four times
// their size (the server's RSS peaked at 247 MiB), on eight connections,
// one call at a time each, for 4 s.
func TestAttackAuditDescribeNames(t *testing.T) {
	needAttacks(t)
	s := besiege(t)
	name := bytes.Repeat([]byte{0x01}, 4<<20-64)
	req := append(append(append([]byte{0x94, 0x00, 0x01}, str8("Introspect.Describe")...), 0x91), str32(string(name))...)
	var wg sync.WaitGroup
	notes := make([]string, 8)
	for i := range notes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			notes[i] = pipelineBombs(s.p.addr, req, 4*time.Second)
		}()
	}
	wg.Wait()
	for i, n := range notes {
		t.Logf("attacker %d: %.300s", i, n)
	}
	s.finish()
}

// TestAuditControlWrongParams: Ferry's control methods ($ferry.hello,
// cancel, cancelstream, goaway, settled, drained, and reserved names that
// are none of them) with params of every wrong shape, each sent as a
// notification and then as a request, on a bare connection and on a
// session's call stream. Every request is answered (a result or an
// error), no notification is, the connection is not closed, and an
// Arith.Add sent after each pair is answered.
func TestAuditControlWrongParams(t *testing.T) {
	srv := startArith(t, buildArithServer(t))
	params := []any{
		nil, 5, "x", []any{}, []any{"x"}, []any{-1}, []any{uint64(1) << 40}, []any{1.5},
		[]any{map[string]any{}}, []any{[]any{1}}, map[string]any{"a": 1}, []any{1, 2, 3},
		[]any{map[string]any{"token": 5}}, []any{map[string]any{"settle": "yes"}},
		[]any{map[string]any{"token": string(make([]byte, 3000))}}, []any{uint32(1<<32 - 1)},
	}
	methods := []string{
		"$ferry.hello", "$ferry.cancel", "$ferry.cancelstream", "$ferry.goaway",
		"$ferry.settled", "$ferry.drained", "$ferry.nope", "$ferry", "$", "$ferry.hello\x00",
	}
	for _, bare := range []bool{true, false} {
		var write func(b ...[]byte)
		var read func() []any
		if bare {
			c := dialRaw(t, srv.addr)
			write, read = c.write, c.read
		} else {
			ws := dialSession(t, srv.addr)
			write, read = ws.call.write, ws.call.read
		}
		id := uint32(100)
		for _, m := range methods {
			for _, p := range params {
				id += 2
				write(enc([]any{2, m, p, map[string]any{}}),
					enc([]any{0, id, m, p, map[string]any{}}),
					request(id+1, "Arith.Add", []any{3, 4}, map[string]any{}))
				got := map[uint64]response{}
				for range 2 { // in any order
					r := parseResponse(t, read())
					got[r.msgid] = r
				}
				require.Contains(t, got, uint64(id), "bare %t: %q %v: the request is answered", bare, m, p)
				require.Contains(t, got, uint64(id+1), "bare %t: %q %v", bare, m, p)
				require.EqualValues(t, 7, got[uint64(id+1)].result, "bare %t: %q %v", bare, m, p)
			}
		}
	}
	took, err := probeAdd(srv.addr)
	require.NoError(t, err)
	assert.Less(t, took, siegeProbeLimit)
}

// TestAuditSessionFrames: yamux frames that break the session's rules, or
// that it must tolerate, each on a fresh session after its hello, followed
// by a ping. A frame that breaks the rules (a data frame longer than the
// stream's window, a second SYN for an open stream, a SYN for stream 0, a
// go-away) ends the session, at once; one it tolerates (frames for streams
// that do not exist, an unsolicited ping answer, a message split into
// one-byte frames, floods of empty frames) leaves it answering the ping.
// Either way the server lives and serves a fresh client.
func TestAuditSessionFrames(t *testing.T) {
	srv := startArith(t, buildArithServer(t))
	add := request(5, "Arith.Add", []any{3, 4}, map[string]any{})
	repeat := func(b []byte, n int) []byte { return bytes.Repeat(b, n) }
	oneByteFrames := func(p []byte) []byte {
		var b []byte
		for _, x := range p {
			b = append(append(b, yamuxFrame(0, 0, 1, 1)...), x)
		}
		return b
	}
	// The call stream's window grows to 1 MiB once the server has read
	// the hello: a frame of 1 MiB + 1 passes it.
	pastWindow := echoBinRequest(1, 2<<20)[:1<<20+1]
	cases := []struct {
		name  string
		b     []byte
		ended bool
	}{
		{"data frame declaring 4 GiB", yamuxFrame(0, 0, 1, 0xffffffff), true},
		{"data frame past the window", append(yamuxFrame(0, 0, 1, uint32(len(pastWindow))), pastWindow...), true},
		{"SYN again on the open call stream", yamuxFrame(1, 1, 1, 0), true},
		{"data with SYN again on the call stream", append(yamuxFrame(0, 1, 1, uint32(len(add))), add...), true},
		{"every flag on the call stream", yamuxFrame(1, 15, 1, 0), true},
		{"SYN on stream 0", yamuxFrame(1, 1, 0, 0), true},
		{"go-away, code 2^32-1", yamuxFrame(3, 0, 0, 0xffffffff), true},
		{"go-away with every flag", yamuxFrame(3, 15, 7, 2), true},
		{"RST for a stream never opened", yamuxFrame(1, 8, 99, 0), false},
		{"FIN for a stream never opened", yamuxFrame(1, 4, 97, 0), false},
		{"window update for a stream never opened", yamuxFrame(1, 0, 95, 1000), false},
		{"ACK for a stream never opened", yamuxFrame(1, 2, 93, 0), false},
		{"data without SYN for a stream never opened", append(yamuxFrame(0, 0, 91, 10), make([]byte, 10)...), false},
		{"data on stream 0", append(yamuxFrame(0, 0, 0, 4), 1, 2, 3, 4), false},
		{"ping answer never asked for", yamuxFrame(2, 2, 0, 12345), false},
		{"ping on stream 5", yamuxFrame(2, 1, 5, 3), false},
		{"SYN for stream 2^32-1", yamuxFrame(1, 1, 0xffffffff, 0), false},
		{"SYN for 5, then for 3", append(yamuxFrame(1, 1, 5, 0), yamuxFrame(1, 1, 3, 0)...), false},
		{"SYN with a window of 2^32-1", yamuxFrame(1, 1, 7, 0xffffffff), false},
		{"stream 3 reset, then opened again", append(append(yamuxFrame(1, 1, 3, 0), yamuxFrame(1, 8, 3, 0)...), yamuxFrame(1, 1, 3, 0)...), false},
		{"unknown flag bits", yamuxFrame(0, 0x8000, 1, 0), false},
		{"20,000 empty data frames", repeat(yamuxFrame(0, 0, 1, 0), 20_000), false},
		{"20,000 empty window updates", repeat(yamuxFrame(1, 0, 1, 0), 20_000), false},
		{"a request in one-byte frames", oneByteFrames(add), false},
	}
	for _, tc := range cases {
		c := dialRaw(t, srv.addr)
		c.write(helloSession())
		_, err := readSessionReply(c.r)
		require.NoError(t, err, tc.name)
		_ = c.writeMay(append(tc.b, yamuxFrame(2, 1, 0, 77)...))
		acked := readPingAck(t, c, 77)
		if tc.ended {
			assert.False(t, acked, "%s: the session ends", tc.name)
			c.discardUntilClosed(5 * time.Second)
		} else {
			assert.True(t, acked, "%s: the session goes on", tc.name)
		}
		c.conn.Close()
	}
	took, err := probeAdd(srv.addr)
	require.NoError(t, err)
	assert.Less(t, took, siegeProbeLimit)
}

// TestAuditParamsConfusion: params of the wrong type for every unary
// method of the example server, the introspection and health methods
// included (NaN, infinities, 2^63 as a float, extension values where
// numbers, strings or maps belong, maps with integer keys, arrays nested
// where a string belongs). Each is answered on the same connection: a
// result when the value fits exactly, else invalid_argument (or
// not_found), never internal (what a panicking handler or decoder gets).
func TestAuditParamsConfusion(t *testing.T) {
	srv := startArith(t, buildArithServer(t))
	c := dialRaw(t, srv.addr)
	f32NaN := msgpack.RawMessage{0xca, 0x7f, 0xc0, 0, 0}
	stamp := msgpack.RawMessage{0xd6, 0xff, 0, 0, 0, 1} // a timestamp
	ext5 := msgpack.RawMessage{0xd4, 5, 0}
	const ok, invalid, notFound = 0, 3, 5
	cases := []struct {
		method string
		params any
		code   uint64
		result any
	}{
		{"Arith.Add", []any{math.NaN(), 0}, invalid, nil},
		{"Arith.Add", []any{f32NaN, 0}, invalid, nil},
		{"Arith.Add", []any{math.Inf(1), 0}, invalid, nil},
		{"Arith.Add", []any{math.Inf(-1), 0}, invalid, nil},
		{"Arith.Add", []any{float64(1 << 63), 0}, invalid, nil},
		{"Arith.Add", []any{-float64(1 << 63), 0}, ok, int64(math.MinInt64)},
		{"Arith.Add", []any{math.Copysign(0, -1), 0}, ok, int8(0)},
		{"Arith.Add", []any{1e300, 0}, invalid, nil},
		{"Arith.Add", []any{stamp, 1}, invalid, nil},
		{"Arith.Add", []any{[]byte("3"), 4}, invalid, nil},
		{"Arith.Add", []any{map[int]int{0: 3, 1: 4}}, invalid, nil},
		{"Arith.Add", map[int]int{0: 3, 1: 4}, invalid, nil},
		{"Arith.Add", ext5, invalid, nil},
		{"Arith.Add", []any{map[string]any{"A": stamp}}, invalid, nil},
		{"Arith.Div", []any{int64(math.MinInt64), -1}, ok, int64(math.MinInt64)},
		{"Arith.Mul", []any{int64(math.MaxInt64), 2}, ok, int8(-2)},
		{"Arith.Mul", []any{math.NaN()}, invalid, nil},
		{"Echo.Map", []any{map[int]int{1: 2}}, invalid, nil},
		{"Echo.Map", []any{map[string]any{"a": ext5}}, invalid, nil},
		{"Echo.Map", []any{ext5}, invalid, nil},
		{"Health.Check", []any{map[string]any{"service": 5}}, invalid, nil},
		{"Health.Check", []any{ext5}, invalid, nil},
		{"Introspect.Describe", []any{5}, invalid, nil},
		{"Introspect.Describe", []any{ext5}, invalid, nil},
		{"Introspect.Describe", []any{map[string]any{"method": stamp}}, invalid, nil},
		{"Introspect.Describe", []any{[]any{[]any{[]any{}}}}, invalid, nil},
		{"Introspect.Describe", []any{map[any]any{1: "x", "method": "Arith.Add"}}, invalid, nil},
		{"Introspect.Describe", []any{nil}, notFound, nil},
		{"Introspect.List", []any{map[string]any{"x": stamp}}, invalid, nil},
	}
	for i, tc := range cases {
		r := c.call(enc([]any{0, uint32(i), tc.method, tc.params, map[string]any{}}))
		require.EqualValues(t, i, r.msgid)
		assert.Equal(t, tc.code, r.code(), "%s %v: %v", tc.method, tc.params, r.err)
		if tc.code == ok {
			assert.Equal(t, tc.result, r.result, "%s %v", tc.method, tc.params)
		}
	}
	r := c.call(request(99, "Arith.Add", []any{3, 4}))
	assert.EqualValues(t, 7, r.result, "the connection goes on")
}

// TestAuditHalfClose: peers that half-close (TCP FIN on a bare
// connection, yamux FIN on the call stream) after their requests: every
// complete request is answered before the server closes its side, a
// partial one is dropped and the connection closed at once (not after
// PartialMessageTimeout), and a session's call stream ends with
// $ferry.drained counting the requests read.
func TestAuditHalfClose(t *testing.T) {
	srv := startArith(t, buildArithServer(t))

	c := dialRaw(t, srv.addr)
	c.write(request(1, "Arith.Add", []any{3, 4}), request(2, "Arith.Add", []any{5, 4}))
	require.NoError(t, c.conn.(*net.TCPConn).CloseWrite())
	got := map[uint64]any{}
	for range 2 {
		r := parseResponse(t, c.read())
		got[r.msgid] = r.result
	}
	assert.Equal(t, map[uint64]any{1: int8(7), 2: int8(9)}, got)
	assert.Less(t, c.closedWithin(5*time.Second), 2*time.Second, "closed after the replies")

	c = dialRaw(t, srv.addr)
	req := request(1, "Arith.Add", []any{3, 4})
	c.write(req[:len(req)-1])
	require.NoError(t, c.conn.(*net.TCPConn).CloseWrite())
	assert.Less(t, c.closedWithin(5*time.Second), 2*time.Second, "a partial message, then the end of input")

	ws := dialSession(t, srv.addr)
	ws.call.write(request(7, "Arith.Add", []any{3, 4}, map[string]any{}))
	require.NoError(t, ws.call.st.Close())
	r := parseResponse(t, ws.call.read())
	assert.EqualValues(t, 7, r.result)
	assert.Equal(t, []any{int8(2), "$ferry.drained", []any{int8(2)}}, ws.call.read(), "the hello and the request were read")
	require.NoError(t, ws.call.st.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err := ws.call.r.ReadByte()
	assert.ErrorIs(t, err, io.EOF)
}

// TestAttackAuditSlowPreface: a session that sends its opening frames and
// hello one byte every 250 ms (80 bytes: 20 s in all), keeping the
// connection busy but never completing a message within SniffTimeout
// (10 s of its first byte), is closed at 10 s; one that sends them a byte
// every 5 ms is served.
func TestAttackAuditSlowPreface(t *testing.T) {
	needAttacks(t)
	srv := startArith(t, buildArithServer(t))
	drip := func(c *rawConn, every time.Duration) (time.Duration, error) {
		tick := time.NewTicker(every)
		defer tick.Stop()
		start := time.Now()
		for _, b := range helloSession() {
			<-tick.C
			if err := c.writeMay([]byte{b}); err != nil {
				return time.Since(start), err
			}
		}
		return time.Since(start), nil
	}
	c := dialRaw(t, srv.addr)
	took, err := drip(c, 5*time.Millisecond)
	require.NoError(t, err)
	_, err = readSessionReply(c.r)
	require.NoError(t, err, "a hello sent in %v is answered", took)

	c = dialRaw(t, srv.addr)
	took, err = drip(c, 250*time.Millisecond)
	require.Error(t, err, "the server closes the connection")
	t.Logf("closed after %v", took)
	assert.Greater(t, took, 9*time.Second)
	assert.Less(t, took, 13*time.Second)
}

// TestAuditStreamOpenings: streams whose opening, after the 0xc1 marker,
// is not the request PROTOCOL.md 6 asks for (a notification, a response,
// a bare integer, the marker again, nesting past MaxDepth, an ext that is
// not a map, a deadline already passed, a reserved method, metadata past
// its bounds), followed by a message and a CloseSend, then the caller's
// close. Each stream ends (a final status, or a close) within 3 s, and the
// session's call stream goes on answering.
func TestAuditStreamOpenings(t *testing.T) {
	srv := startArith(t, buildArithServer(t))
	s := dialSession(t, srv.addr)
	md := map[string]any{}
	for i := range 1025 {
		md[strconv.Itoa(i)] = ""
	}
	opens := [][]byte{
		enc([]any{2, "Echo.Chat", []any{}, map[string]any{}}),
		enc([]any{1, 0, nil, nil}),
		enc([]any{0, 5, "Echo.Chat", []any{1, 2}, map[string]any{}}),
		enc([]any{0, 0, []byte("Echo.Chat"), []any{}, map[string]any{}}),
		enc([]any{0, 0, "Echo.Chat", []any{}, map[string]any{"t": -1}}),
		enc([]any{0, 0, "Echo.Chat", []any{}, 5}),
		enc([]any{0, 0, "Echo.Chat", []any{}}),
		{0xc1},
		enc(5),
		enc([]any{0, 0, "$ferry.hello", []any{}, map[string]any{}}),
		enc([]any{0, 0, "$ferry.cancelstream", []any{}, map[string]any{}}),
		enc([]any{0, 0, "Echo.Chat", []any{}, map[string]any{"m": md}}),
		append(nested(70, nil), 0x90),
	}
	for i, b := range opens {
		st := s.open()
		st.write(append([]byte{0xc1}, b...), frame("a"), closeSend)
		require.NoError(t, st.st.Close())
		require.NoError(t, st.st.SetReadDeadline(time.Now().Add(3*time.Second)))
		got, err := io.ReadAll(st.r)
		require.NoError(t, err, "opening %d (% x): the stream ends; got % x", i, b[:min(len(b), 16)], got)
		r := parseResponse(t, s.call.read2(request(uint32(i), "Arith.Add", []any{1, 1}, map[string]any{})))
		require.EqualValues(t, 2, r.result, "the call stream after opening %d", i)
	}
}

// TestAuditUnaskedResponses: responses to calls the server never made,
// on a session's call stream (the bare case is in TestAttackBareFloods):
// with results, errors of every shape, extension maps of unknown and
// wrong-typed keys, and a result of 60 KiB. They are dropped, and calls
// on the stream go on being answered.
func TestAuditUnaskedResponses(t *testing.T) {
	srv := startArith(t, buildArithServer(t))
	s := dialSession(t, srv.addr)
	for i, resp := range []any{
		[]any{1, 5, nil, 1},
		[]any{1, uint32(1<<32 - 1), "boom", nil, map[string]any{"c": 99, "d": map[string]any{"k": "v"}}},
		[]any{1, 0, []any{0, "Vim:E121"}, nil},
		[]any{1, 1, map[string]any{"x": 1}, nil, map[string]any{"c": "x", "n": 5, "d": 7}},
		[]any{1, 2, nil, nil, 5},
		[]any{1, 3, nil, make([]byte, 60<<10)},
		[]any{1, 4, 17, nil, map[string]any{}},
	} {
		s.call.write(enc(resp))
		r := parseResponse(t, s.call.read2(request(uint32(100+i), "Arith.Add", []any{3, 4}, map[string]any{})))
		require.EqualValues(t, 100+i, r.msgid)
		require.EqualValues(t, 7, r.result, "after response %d", i)
	}
}

// TestAuditBusyAddressesYield: at the total connection bound, when every
// connection is busy (a call running on each), a newcomer from an address
// holding at least two fewer than the address holding the most is let in,
// and that address's newest connection makes room; a newcomer from an
// address holding as many is refused, as before. Without this, a few
// addresses that keep every connection busy (TestAttackAuditBusySessions)
// locked every other address out.
func TestAuditBusyAddressesYield(t *testing.T) {
	s := newServer(t, server.WithConnLimits(4, 0))
	release, started := holdCalls(t, s)
	defer close(release)
	addr := listen(t, s)
	dial := func(from string) (*client.Client, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
		nc, err := d.DialContext(t.Context(), "tcp", addr)
		if err != nil {
			return nil, err
		}
		c, err := client.New(nc)
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { c.Close() })
		return c, add(c)
	}
	var held []*ferry.Call
	for _, from := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.2", "127.0.0.3"} {
		c, err := dial(from)
		require.NoError(t, err)
		held = append(held, c.Go(t.Context(), "Hold.Hold", struct{}{}, new(bool)))
		<-started
	}
	_, err := dial("127.0.0.3")
	require.Error(t, err, "127.0.0.3 holds as many as any other address")
	assert.Contains(t, err.Error(), "connection limit")

	fresh, err := dial("127.0.0.4")
	require.NoError(t, err, "a newcomer from an address holding none is let in")
	settledAt(t, s, 4)
	ended := 0
	for i, h := range held {
		select {
		case <-h.Done():
			assert.GreaterOrEqual(t, i, 2, "only an address's newest connection makes room")
			ended++
		case <-time.After(100 * time.Millisecond):
		}
	}
	assert.Equal(t, 1, ended, "one connection made room")
	require.NoError(t, add(fresh))
}

// TestAttackAuditBusySessions: 3,200 sessions from four addresses (the
// example server holds 3,072, 768 an address), each kept busy after its
// hello: by a notification every 150 ms on its call stream ($ferry.cancel
// of an id never used: no handler runs), or by one Echo.Chat stream held
// open. No connection is quiet, so none makes room by the quiet rule: the
// newest of the address holding the most does (before, every fresh client
// was refused, 38 of 50 probes failed, at 860 KB/s of attack traffic).
func TestAttackAuditBusySessions(t *testing.T) {
	needAttacks(t)
	note := notification("$ferry.cancel", []any{1})
	noteFrame := append(yamuxFrame(0, 0, 1, uint32(len(note))), note...)
	open := append([]byte{0xc1}, request(0, "Echo.Chat", []any{}, map[string]any{})...)
	streamFrames := append(yamuxFrame(1, 1, 3, 0), append(yamuxFrame(0, 0, 3, uint32(len(open))), open...)...)
	for _, mode := range []string{"notify", "stream"} {
		t.Run(mode, func(t *testing.T) {
			s := besiege(t)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var mu sync.Mutex
			var conns []net.Conn
			keepBusy := func(c net.Conn) {
				defer wg.Done()
				tick := time.NewTicker(150 * time.Millisecond)
				defer tick.Stop()
				for range 1000 {
					select {
					case <-stop:
						return
					case <-tick.C:
					}
					_ = c.SetWriteDeadline(time.Now().Add(time.Second))
					if _, err := c.Write(noteFrame); err != nil {
						return
					}
				}
			}
			for w := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+w%4))}, Timeout: 5 * time.Second}
					for range 200 {
						select {
						case <-stop:
							return
						default:
						}
						c, err := d.Dial("tcp", s.p.addr)
						if err != nil {
							continue
						}
						_ = c.SetDeadline(time.Now().Add(5 * time.Second))
						if _, err = c.Write(helloSession()); err == nil {
							_, err = readSessionReply(bufio.NewReaderSize(c, 512))
						}
						if err == nil && mode == "stream" {
							_, err = c.Write(streamFrames)
						}
						if err != nil {
							c.Close()
							continue
						}
						_ = c.SetDeadline(time.Time{})
						mu.Lock()
						conns = append(conns, c)
						mu.Unlock()
						if mode == "notify" {
							wg.Add(1)
							go keepBusy(c)
						}
					}
				}()
			}
			hold := time.NewTimer(8 * time.Second)
			<-hold.C
			close(stop)
			wg.Wait()
			t.Logf("%d sessions opened; %d closed by the server", len(conns), countClosed(conns))
			for _, c := range conns {
				c.Close()
			}
			s.finish()
		})
	}
}

// silentOpenings are the first bytes of streams that start nothing: none
// at all, the streaming-call marker alone, one byte of a call stream's
// request, and all but the last byte of a streaming call's opening.
func silentOpenings() map[string][]byte {
	open := append([]byte{0xc1}, request(0, "Echo.Chat", []any{}, map[string]any{})...)
	return map[string][]byte{
		"nothing":            nil,
		"marker":             {0xc1},
		"one request byte":   {0x94},
		"most of an opening": open[:len(open)-1],
	}
}

// openSilent opens n streams on a that send first and then nothing, and
// returns how many it opened.
func openSilent(a *attackSession, n int, first []byte) int {
	return until(4*time.Second, n, func(int) bool {
		st, err := a.sess.OpenStream()
		if err != nil {
			return false
		}
		if len(first) > 0 {
			_ = st.SetWriteDeadline(time.Now().Add(2 * time.Second))
			_, err = st.Write(first)
		}
		return err == nil
	})
}

// TestAuditSilentStreamsCharged: streams that send nothing, or one byte
// of a message, are charged what their goroutines hold (8 KiB while a
// stream is being set up, 8 KiB for a call stream's running reader), not
// only 1 KiB and their buffers: six sessions of 1,000 such streams pass
// the example server's 48 MiB budget, which ends one of them, and a fresh
// client is served.
func TestAuditSilentStreamsCharged(t *testing.T) {
	srv := startArith(t, buildArithServer(t))
	var sessions []*yamux.Session
	for i := range 6 {
		a, err := dialAttackSession(srv.addr)
		require.NoError(t, err)
		t.Cleanup(func() { a.sess.Close() })
		sessions = append(sessions, a.sess)
		first := []byte(nil)
		if i%2 == 1 {
			first = []byte{0x94}
		}
		openSilent(a, 1000, first)
	}
	require.Eventually(t, func() bool {
		for _, s := range sessions {
			if s.IsClosed() {
				return true
			}
		}
		return false
	}, 5*time.Second, 10*time.Millisecond, "the server ends a session once its streams fill the budget")
	took, err := probeAdd(srv.addr)
	require.NoError(t, err)
	assert.Less(t, took, siegeProbeLimit)
}

// TestAttackAuditSilentStreams: 96 sessions each open 1,023 streams that
// send nothing, or one byte of a message (silentOpenings), and hold them
// for 5 s. Before they were charged what their goroutines hold, the
// server's RSS reached 355 MiB (nothing) and 258 MiB (one request byte),
// and 15 s of CPU.
func TestAttackAuditSilentStreams(t *testing.T) {
	needAttacks(t)
	for name, first := range silentOpenings() {
		t.Run(name, func(t *testing.T) {
			s := besiege(t)
			sessionAttackers(t, s.p.addr, 96, func(i int, a *attackSession) string {
				n := openSilent(a, 1023, first)
				hold := time.NewTimer(5 * time.Second)
				<-hold.C
				return fmt.Sprintf("%d streams opened; RSS now %d MiB", n, s.rss()>>20)
			})
			s.finish()
		})
	}
}
