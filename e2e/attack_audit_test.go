package e2e_test

// Attacks on the example server that the other attack_*_test.go files and
// scripts/attack do not make (an audit of their gaps). This file: memory
// the budget must account for (decoding bombs, idle and silent streams,
// long names quoted in errors); attack_audit_wire_test.go: messages and
// frames that break the protocol's rules; attack_audit_conn_test.go:
// connections that open slowly, half-close, or keep busy at the bounds.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
		streams, n := a.openEach(1023, open)
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
