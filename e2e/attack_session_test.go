package e2e_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// attackSession is a session an attacking goroutine drives: yamux's
// client, so that it keeps to the windows, with the hello said.
type attackSession struct {
	sess *yamux.Session
	call *yamux.Stream
	r    *bufio.Reader
}

// openEach opens up to max streams on a's session within 4 s, writing
// msg on each as it opens, and stops at the first that fails; it returns
// the streams opened and how many took msg whole.
func (a *attackSession) openEach(max int, msg []byte) ([]*yamux.Stream, int) {
	var streams []*yamux.Stream
	n := until(4*time.Second, max, func(int) bool {
		st, err := a.sess.OpenStream()
		if err != nil {
			return false
		}
		streams = append(streams, st)
		_ = st.SetWriteDeadline(time.Now().Add(2 * time.Second))
		_, err = st.Write(msg)
		return err == nil
	})
	return streams, n
}

func dialAttackSession(addr string) (*attackSession, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	cfg := yamux.DefaultConfig()
	cfg.EnableKeepAlive = false
	cfg.LogOutput = io.Discard
	cfg.AcceptBacklog = 64
	cfg.ConnectionWriteTimeout = 5 * time.Second
	sess, err := yamux.Client(conn, cfg)
	if err != nil {
		conn.Close()
		return nil, err
	}
	a := &attackSession{sess: sess}
	if a.call, err = sess.OpenStream(); err != nil {
		sess.Close()
		return nil, err
	}
	a.r = bufio.NewReader(a.call)
	_ = a.call.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err = a.call.Write(request(1, "$ferry.hello", []any{map[string]any{}}, map[string]any{})); err == nil {
		var msg []any
		if err = msgpack.NewDecoder(a.r).Decode(&msg); err == nil && (len(msg) < 4 || msg[2] != nil) {
			err = fmt.Errorf("hello answered %v", msg)
		}
	}
	if err != nil {
		sess.Close()
		return nil, err
	}
	_ = a.call.SetDeadline(time.Time{})
	return a, nil
}

// sessionAttackers runs fn on n sessions at once and logs what each saw.
func sessionAttackers(t *testing.T, addr string, n int, fn func(i int, a *attackSession) string) {
	t.Helper()
	notes := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := dialAttackSession(addr)
			if err != nil {
				notes[i] = "dial: " + err.Error()
				return
			}
			defer a.sess.Close()
			notes[i] = fn(i, a)
		}()
	}
	wg.Wait()
	for i, n := range notes {
		t.Logf("session %d: %s", i, n)
	}
}

// pipeline writes msg(i) in batches of about 64 KiB on w for d, never
// reading; a write that times out is retried. It returns what stopped it.
func pipeline(st *yamux.Stream, d time.Duration, msg func(i int) []byte) (sent int, stop error) {
	var buf []byte
	i := 0
	until(d, 1_000_000, func(int) bool {
		buf = buf[:0]
		for len(buf) < 64<<10 {
			buf = append(buf, msg(i)...)
			i++
		}
		_ = st.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := st.Write(buf); err != nil {
			if errors.Is(err, yamux.ErrTimeout) || errors.Is(err, yamux.ErrConnectionWriteTimeout) {
				return true // the server reads no more for now
			}
			stop = err
			return false
		}
		sent = i
		return true
	})
	return sent, stop
}

// TestAttackSessionControlFlood: sessions that pipeline Ferry's control
// messages on their call stream as fast as they can and never read:
// cancels of requests and streams that do not exist, and hello after
// hello (each answered, into a window never granted).
func TestAttackSessionControlFlood(t *testing.T) {
	needAttacks(t)
	s := besiege(t)
	kinds := []func(i int) []byte{
		func(i int) []byte { return notification("$ferry.cancel", []any{uint32(i * 7919)}) },
		func(i int) []byte { return notification("$ferry.cancelstream", []any{uint32(2*i + 1)}) },
		func(i int) []byte {
			return request(uint32(i+2), "$ferry.hello", []any{map[string]any{}}, map[string]any{})
		},
		func(i int) []byte { // all three, interleaved
			switch i % 3 {
			case 0:
				return notification("$ferry.cancel", []any{uint32(i)})
			case 1:
				return notification("$ferry.cancelstream", []any{uint32(i)})
			}
			return request(uint32(i), "$ferry.hello", []any{map[string]any{"x": strings.Repeat("y", 1000)}}, map[string]any{})
		},
	}
	sessionAttackers(t, s.p.addr, len(kinds), func(i int, a *attackSession) string {
		sent, err := pipeline(a.call, 4*time.Second, kinds[i])
		return fmt.Sprintf("%d messages sent, stopped by %v", sent, err)
	})
	s.finish()
}

// metadataAtBounds is a request's metadata at both of its bounds: 1,024
// pairs, and as close to 64 KiB encoded as 63 bytes a pair allow.
func metadataAtBounds() map[string]any {
	md := make(map[string]any, 1024)
	for i := range 1024 {
		md[fmt.Sprintf("k%04d", i)] = strings.Repeat("v", 55) // fixstr key 6 bytes + str8 value 57 bytes
	}
	return md
}

// TestAttackMetadataAtBounds: calls whose metadata is at its bounds
// (1,024 pairs, just under 64 KiB) at the highest rate the server
// answers, unary on four sessions' call streams, and streaming calls
// opened with it on two more; then the same one pair past the bound,
// which is refused.
func TestAttackMetadataAtBounds(t *testing.T) {
	needAttacks(t)
	s := besiege(t)
	md := metadataAtBounds()
	ext := map[string]any{"m": md}
	mdSize := len(enc(md))
	require.LessOrEqual(t, mdSize, 64<<10)
	var answered, failed, opened atomic.Int64
	var firstErr atomic.Value
	sessionAttackers(t, s.p.addr, 6, func(i int, a *attackSession) string {
		if i >= 4 { // streaming calls: open, send the opening request, close
			n := until(6*time.Second, 20_000, func(int) bool {
				st, err := a.sess.OpenStream()
				if err != nil {
					return false
				}
				_ = st.SetWriteDeadline(time.Now().Add(2 * time.Second))
				_, err = st.Write(append([]byte{0xc1}, request(0, "Echo.Chat", []any{}, ext)...))
				st.Close()
				if err != nil {
					return false
				}
				opened.Add(1)
				return true
			})
			return fmt.Sprintf("%d streams opened", n)
		}
		// Unary calls, 16 in flight, replies read.
		done := make(chan struct{})
		go func() {
			defer close(done)
			dec := msgpack.NewDecoder(a.r)
			for {
				_ = a.call.SetReadDeadline(time.Now().Add(5 * time.Second))
				var msg []any
				if err := dec.Decode(&msg); err != nil {
					return
				}
				if t, _ := toUint(msg[0]); t != 1 {
					continue // $ferry.drained, once the call stream is closed
				}
				if len(msg) >= 4 && msg[2] == nil {
					answered.Add(1)
				} else {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprint(msg))
				}
			}
		}()
		req := request(9, "Arith.Add", []any{3, 4}, ext)
		var buf []byte
		for range 16 {
			buf = append(buf, req...)
		}
		n := until(6*time.Second, 100_000, func(int) bool {
			_ = a.call.SetWriteDeadline(time.Now().Add(5 * time.Second))
			_, err := a.call.Write(buf)
			return err == nil
		})
		a.call.Close()
		<-done
		return fmt.Sprintf("%d requests sent", n*16)
	})
	t.Logf("metadata of %d bytes: %d calls answered, %d failed (first: %v), %d streams opened",
		mdSize, answered.Load(), failed.Load(), firstErr.Load(), opened.Load())
	assert.Positive(t, answered.Load())
	assert.Zero(t, failed.Load(), "calls with metadata at its bounds")

	// One pair more is refused: invalid_argument, not executed.
	md["k1024"] = "v"
	c := dialRaw(t, s.p.addr)
	r := c.call(request(1, "Arith.Add", []any{3, 4}, map[string]any{"m": md}))
	assert.EqualValues(t, 3, r.code(), "1,025 pairs: %v", r.err)
	assert.Equal(t, true, r.ext["n"])
	s.finish()
}

// TestAttackNoWindowStreams: sessions that start Counter.Count streams
// of a million messages each and never read them, so the server's
// senders wait on windows that are never granted, with what they already
// framed queued behind. That queue is charged to the connection's memory
// budget, and the write timeout (10 s) ends such a stream: eight
// sessions of up to 500 such streams each must stay within the RSS
// bound, and their streams must end (10 of each session's are checked).
func TestAttackNoWindowStreams(t *testing.T) {
	needAttacks(t)
	s := besiege(t)
	count := append([]byte{0xc1}, request(0, "Counter.Count", []any{}, map[string]any{})...)
	count = append(append(count, frame(1_000_000)...), closeSend...)
	var started, checked, ended, closed atomic.Int64
	sessionAttackers(t, s.p.addr, 8, func(i int, a *attackSession) string {
		streams, n := a.openEach(500, count)
		started.Add(int64(n))
		// Hold them, unread, past the server's write timeout; then see
		// what the server did with them: each stream ends (reset, or
		// EOF once its status is read) or the session was closed.
		// 16 s: the write timeout's 10 s, and room for a loaded machine.
		hold := time.NewTimer(16 * time.Second)
		<-hold.C
		e := 0
		streams = streams[:min(len(streams), 10)]
		for _, st := range streams {
			_ = st.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := io.Copy(io.Discard, st); !errors.Is(err, yamux.ErrTimeout) {
				e++
			}
		}
		ended.Add(int64(e))
		checked.Add(int64(len(streams)))
		if a.sess.IsClosed() {
			closed.Add(1)
		}
		return fmt.Sprintf("%d streams started; after 16 s unread: session closed %t, %d of %d streams ended", n, a.sess.IsClosed(), e, len(streams))
	})
	t.Logf("%d streams started; of %d checked, %d ended; %d of 8 sessions closed", started.Load(), checked.Load(), ended.Load(), closed.Load())
	assert.Positive(t, started.Load())
	assert.GreaterOrEqual(t, ended.Load()*10, checked.Load()*8, "streams unread past the write timeout must end")
	s.finish()
}
