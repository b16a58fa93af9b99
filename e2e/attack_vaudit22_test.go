package e2e_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// v22Opens writes, on a raw session to addr, the opening of stream after
// stream (odd ids from 3), each carrying first, at about rate opens a
// second for d, reading and discarding what the server sends; it returns
// the streams whose frames were written.
func v22Opens(addr string, first []byte, rate int, d time.Duration) int {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return 0
	}
	defer conn.Close()
	go func() { _, _ = io.Copy(io.Discard, bufio.NewReader(conn)) }()
	hello := helloSession()
	if _, err := conn.Write(hello); err != nil {
		return 0
	}
	opened := 0
	start := time.Now()
	id := uint32(3)
	batch := max(1, rate/50) // every 20 ms
	for range 100_000 {
		if time.Since(start) > d {
			break
		}
		var b []byte
		for range batch {
			b = append(b, yamuxFrame(1, 1, id, 0)...)
			b = append(b, dataFrame(id, 0, first)...)
			id += 2
		}
		_ = conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if _, err := conn.Write(b); err != nil {
			break
		}
		opened += batch
		due := start.Add(time.Duration(opened) * time.Second / time.Duration(rate))
		if w := time.Until(due); w > 0 {
			time.Sleep(w) // pacing the attack, not waiting for an event
		}
	}
	return opened
}

// TestAttackVaudit22StreamsNeverClosed: PROTOCOL.md 8, "a stream the peer
// never closes costs about 1 KiB of the budget until the session ends".
// Eight sessions open streaming calls to an unknown method just under the
// open rate (2,000/s): each is refused (a final status) and closed by the
// server, and the attacker never closes its side. The server must stay
// within its RSS bound and serve fresh clients.
func TestAttackVaudit22StreamsNeverClosed(t *testing.T) {
	needAttacks(t)
	s := besiege(t)
	first := streamOpening("Nope.Nope")
	var wg sync.WaitGroup
	var total atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			total.Add(int64(v22Opens(s.p.addr, first, 1800, 8*time.Second)))
		}()
	}
	peak := int64(0)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for stop := false; !stop; {
		select {
		case <-done:
			stop = true
		case <-tick.C:
			peak = max(peak, s.rss())
		}
	}
	t.Logf("%d streams opened, RSS sampled peak %.0f MiB", total.Load(), float64(peak)/(1<<20))
	require.Positive(t, total.Load())
	s.finish()
}

// TestVaudit22BarePipelineAtShutdown: PROTOCOL.md 4, "Going away": a bare
// peer's requests during a drain are answered (a sum, or "the server is
// shutting down"), and "the server half-closes the connection after its
// last reply, so that the peer reads every reply before the end of input,
// and discards what the peer still sends for up to 250 ms". Bare peers
// that pipeline Arith.Add without pause when the example server gets
// SIGTERM, and stop writing once they read the end, must read every
// answer and then a clean end of input, never a reset.
func TestVaudit22BarePipelineAtShutdown(t *testing.T) {
	srv := startArith(t, buildArithServer(t))
	const conns = 4
	type outcome struct {
		sent, sums, refused int
		end                 error
	}
	out := make(chan outcome, conns)
	started := make(chan struct{}, conns)
	for range conns {
		go func() {
			o := outcome{}
			conn, err := net.Dial("tcp", srv.addr)
			if err != nil {
				o.end = err
				out <- o
				return
			}
			defer conn.Close()
			eof := make(chan struct{})
			var sent, got atomic.Int64
			go func() { // the writer: batches of 64 requests until the end is read
				for i := 0; i < 1_000_000; i += 64 {
					select {
					case <-eof:
						return
					default:
					}
					// At most 512 requests in flight, as in
					// v22PipelineSession.
					for j := 0; j < 10_000 && sent.Load()-got.Load() > 512-64; j++ {
						runtime.Gosched()
					}
					var b []byte
					for j := range 64 {
						b = append(b, request(uint32(i+j), "Arith.Add", []any{i + j, 1})...)
					}
					_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
					if _, err := conn.Write(b); err != nil {
						return
					}
					sent.Add(64)
				}
			}()
			r := bufio.NewReader(conn)
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			dec := msgpack.NewDecoder(r)
			for i := range 10_000_000 {
				if i == 100 {
					started <- struct{}{}
				}
				var msg []any
				if err := dec.Decode(&msg); err != nil {
					o.end = err
					break
				}
				got.Add(1)
				switch {
				case len(msg) == 4 && msg[2] == nil:
					o.sums++
				case len(msg) == 4 && msg[2] == "the server is shutting down":
					o.refused++
				default:
					o.end = fmt.Errorf("unexpected message %v", msg)
				}
			}
			close(eof)
			o.sent = int(sent.Load())
			out <- o
		}()
	}
	for range conns {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("no answers")
		}
	}
	require.NoError(t, srv.cmd.Process.Signal(sigterm))
	for range conns {
		o := <-out
		t.Logf("sent %d, answered %d sums and %d refusals, then %v", o.sent, o.sums, o.refused, o.end)
		assert.ErrorIs(t, o.end, io.EOF, "the end of input after the last reply, not a reset")
	}
	require.NoError(t, srv.wait(t, 15*time.Second), "stderr: %s", srv.stderr)
}

// TestVaudit22SessionPipelineAtShutdown: PROTOCOL.md 4, "Going away",
// steps 1 and 3, on raw sessions that pipeline Arith.Add on their call
// stream without pause when the example server gets SIGTERM: every
// request the server read is answered (a sum, or unavailable with "n":
// true), "$ferry.drained [n]" counts exactly those (the hello included,
// in the order written), nothing is answered after it, and then the
// stream ends.
func TestVaudit22SessionPipelineAtShutdown(t *testing.T) {
	srv := startArith(t, buildArithServer(t))
	const conns = 3
	out := make(chan v22Drain, conns)
	started := make(chan struct{}, conns)
	for range conns {
		go func() { out <- v22PipelineSession(srv.addr, started, 20*time.Second) }()
	}
	for range conns {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("no answers")
		}
	}
	require.NoError(t, srv.cmd.Process.Signal(sigterm))
	for range conns {
		o := <-out
		t.Logf("%+v", o)
		require.NoError(t, o.err)
		assert.True(t, o.goaway, "$ferry.goaway came")
		assert.EqualValues(t, 1+o.sums+o.refused, o.drained, "$ferry.drained counts every request read: the hello and each one answered")
		assert.EqualValues(t, o.drained, o.maxID, "the answered requests are the first n written")
		assert.Zero(t, o.after, "answers after $ferry.drained")
	}
	require.NoError(t, srv.wait(t, 15*time.Second), "stderr: %s", srv.stderr)
}

// v22Drain is what a raw session pipelining Arith.Add saw of a drain.
type v22Drain struct {
	sent, sums, refused int
	maxID               uint64 // the largest msgid answered
	goaway              bool
	drained             int64 // $ferry.drained's n; -1 if none came
	after               int   // responses after $ferry.drained
	err                 error
	frames              []string // the frames other than data and window updates on stream 1, in order
}

// v22PipelineSession opens a raw session to addr, says hello and writes
// Arith.Add requests (msgids 2, 3, ...) on its call stream without pause,
// within the window the server grants, until the stream ends; it signals
// started once 100 were answered.
func v22PipelineSession(addr string, started chan<- struct{}, d time.Duration) v22Drain {
	o := v22Drain{drained: -1}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		o.err = err
		return o
	}
	defer conn.Close()
	var (
		wmu    sync.Mutex
		credit atomic.Int64
		done   = make(chan struct{})
		sent   atomic.Int64
		got    atomic.Int64 // answers read
	)
	credit.Store(256<<10 - int64(len(helloFrame)))
	write := func(b ...[]byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		for _, p := range b {
			if _, err := conn.Write(p); err != nil {
				return err
			}
		}
		return nil
	}
	if o.err = write(yamuxFrame(1, 1, 1, 0), dataFrame(1, 0, helloFrame)); o.err != nil {
		return o
	}
	go func() { // the writer
		id := uint32(2)
		for range 1_000_000 {
			select {
			case <-done:
				return
			default:
			}
			var b []byte
			for range 64 {
				b = append(b, request(id, "Arith.Add", []any{id, 1}, map[string]any{})...)
				id++
			}
			// At most 512 requests in flight: more would be charged past
			// the example server's budget (16 KiB for each call's handler)
			// and end the session, not the drain under test.
			if credit.Load() < int64(len(b)) || sent.Load()-got.Load() > 512-64 {
				id -= 64
				runtime.Gosched()
				continue
			}
			credit.Add(-int64(len(b)))
			if write(dataFrame(1, 0, b)) != nil {
				return
			}
			sent.Add(64)
		}
	}()
	defer close(done)
	r := bufio.NewReaderSize(conn, 1<<20)
	end := time.Now().Add(d)
	var in []byte
	answered := 0
	for range 10_000_000 {
		_ = conn.SetReadDeadline(end)
		var h [12]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			o.err = fmt.Errorf("before the call stream ended: %w", err)
			break
		}
		typ, flags := h[1], binary.BigEndian.Uint16(h[2:])
		stream, length := binary.BigEndian.Uint32(h[4:]), binary.BigEndian.Uint32(h[8:])
		if typ == 2 && flags&1 != 0 {
			_ = write(yamuxFrame(2, 2, 0, length))
			o.frames = append(o.frames, fmt.Sprintf("ping %d", length))
			continue
		}
		if typ > 1 || stream != 1 || flags != 0 {
			o.frames = append(o.frames, fmt.Sprintf("type %d flags %d stream %d length %d after %d answers", typ, flags, stream, length, answered))
		}
		if typ == 1 && stream == 1 {
			credit.Add(int64(length))
		}
		if typ == 0 && length > 0 {
			p := make([]byte, length)
			if _, err := io.ReadFull(r, p); err != nil {
				o.err = err
				break
			}
			if stream == 1 {
				in = append(in, p...)
				_ = write(yamuxFrame(1, 0, 1, length))
			}
		}
		for len(in) > 0 {
			br := bytes.NewReader(in)
			var msg []any
			if msgpack.NewDecoder(br).Decode(&msg) != nil {
				break // a message split across frames
			}
			in = in[len(in)-br.Len():]
			switch {
			case len(msg) >= 3 && msg[0] == int8(2) && msg[1] == "$ferry.goaway":
				o.goaway = true
			case len(msg) >= 3 && msg[0] == int8(2) && msg[1] == "$ferry.drained":
				if ps, ok := msg[2].([]any); ok && len(ps) == 1 {
					n, _ := toUint(ps[0])
					o.drained = int64(n)
				}
			case len(msg) >= 4 && msg[0] == int8(1):
				if o.drained >= 0 {
					o.after++
				}
				id, _ := toUint(msg[1])
				o.maxID = max(o.maxID, id)
				if id == 1 { // the hello's answer
					continue
				}
				if msg[2] == nil {
					o.sums++
				} else if len(msg) == 5 {
					if ext, _ := msg[4].(map[string]any); ext["n"] == true {
						o.refused++
					} else {
						o.err = fmt.Errorf("refusal without n: %v", msg)
					}
				} else {
					o.err = fmt.Errorf("unexpected answer %v", msg)
				}
				got.Add(1)
				if answered++; answered == 100 {
					started <- struct{}{}
				}
			}
		}
		if stream == 1 && flags&(4|8) != 0 { // FIN or RST: the call stream ended
			break
		}
		if typ == 3 && o.drained >= 0 {
			break
		}
	}
	o.sent = int(sent.Load())
	return o
}

// v22Echo is a request [0, id, "Echo.Echo", [bin], {}] of exactly size
// bytes, and the bin's length.
func v22Echo(id uint32, size int) ([]byte, int) {
	k := size - len(chargeRequest(id, "Echo.Echo", append([]byte{0x91}, mpBin(0, 0)...)))
	return chargeRequest(id, "Echo.Echo", append([]byte{0x91}, mpBin(k, byte(id))...)), k
}

// v22BareEcho is a spec-only request [0, id, "Echo.Echo", [bin]] of
// exactly size bytes, and the bin's length.
func v22BareEcho(id uint32, size int) ([]byte, int) {
	req, k := v22Echo(id, size+1) // less the ext, 0x80
	req = append([]byte{0x94}, req[1:len(req)-1]...)
	return req, k
}

// v22Sizes are the size classes of a whole message: 1 KiB, 64 KiB, just
// under the window a stream starts with (256 KiB) and under the window it
// is raised to (1 MiB), and the largest message, MaxMessageSize (4 MiB).
var v22Sizes = []int{1 << 10, 64 << 10, 256<<10 - 1, 1<<20 - 1, docMaxMessage}

// TestAttackVaudit22UnarySizeClasses: PROTOCOL.md 5, "a message larger
// than MaxMessageSize (4 MiB by default) is rejected as soon as its
// declared or received size passes the limit" and "close[s] the stream
// (bare MessagePack-RPC: the connection)", against the example server
// from raw bytes: Echo.Echo requests of every size class up to exactly
// 4 MiB come back whole, on a session's call stream and on a bare
// connection; one byte past, declared (a bin32 header) or received (two
// bins of 2 MiB), ends that stream or connection without an answer,
// while a fresh client is served.
func TestAttackVaudit22UnarySizeClasses(t *testing.T) {
	needAttacks(t)
	s := besiege(t)
	sess := dialCharge(t, s.p.addr)
	bare := dialRaw(t, s.p.addr)
	for i, n := range v22Sizes {
		req, k := v22Echo(uint32(10+i), n)
		require.Len(t, req, n)
		r := sess.call(req)
		require.Nil(t, r.err, "%d bytes on the call stream", n)
		assert.Equal(t, k, len(r.result.([]byte)), "%d bytes on the call stream", n)
		req, k = v22BareEcho(uint32(10+i), n)
		require.Len(t, req, n)
		bare.write(req)
		r = parseResponse(t, bare.read())
		require.Nil(t, r.err, "%d bytes on a bare connection", n)
		assert.Equal(t, k, len(r.result.([]byte)), "%d bytes on a bare connection", n)
	}

	// One byte past, declared: the bin's header, whose length takes the
	// message one byte past the limit (before the ext, the request's last
	// byte), and one byte of its body.
	past, _ := v22Echo(30, docMaxMessage+2)
	head := past[:len(chargeRequest(30, "Echo.Echo", nil))+1+5]
	t.Run("declared on a call stream", func(t *testing.T) {
		c := dialCharge(t, s.p.addr)
		c.send(1, head)
		start := time.Now()
		v22Closed(t, c, 1)
		t.Logf("stream 1 closed %v after the header", time.Since(start).Round(time.Millisecond))
		v22StillServes(t, c)
	})
	t.Run("received on a call stream", func(t *testing.T) {
		c := dialCharge(t, s.p.addr)
		// An array of bins of 250 bytes, 4 MiB and 64 KiB of them: no
		// length declared passes the limit.
		n := (4<<20 + 64<<10) / 252
		many := append([]byte{0x91}, mpArray(n)...)
		for range n {
			many = append(many, 0xc4, 250)
			many = append(many, make([]byte, 250)...)
		}
		req := chargeRequest(31, "Echo.Echo", many)
		sent := v22SendUntilClosed(t, c, 1, req)
		t.Logf("stream 1 closed after %d of the request's %d bytes", sent, len(req))
		v22StillServes(t, c)
	})
	bareHead, _ := v22BareEcho(30, docMaxMessage+1)
	bareHead = bareHead[:len(head)-1]
	t.Run("declared on a bare connection", func(t *testing.T) {
		c := dialRaw(t, s.p.addr)
		c.write(bareHead)
		t.Logf("closed %v after the header", c.closedWithin(5*time.Second).Round(time.Millisecond))
	})
	t.Run("received on a bare connection", func(t *testing.T) {
		c := dialRaw(t, s.p.addr)
		n := (4<<20 + 64<<10) / 252
		req := append([]byte{0x94, 0x00, 0x1f}, mpStr("Echo.Echo")...)
		req = append(append(req, 0x91), mpArray(n)...)
		for range n {
			req = append(req, 0xc4, 250)
			req = append(req, make([]byte, 250)...)
		}
		go func() { _ = c.writeMay(req) }()
		took, got := c.discardUntilClosed(10 * time.Second)
		assert.Zero(t, got, "bytes the server sent before closing")
		t.Logf("closed after %v", took.Round(time.Millisecond))
	})
	s.finish()
}

// v22Closed waits until the server closes stream id of c, sending nothing
// on it.
func v22Closed(t *testing.T, c *chargeSession, id uint32) {
	t.Helper()
	for range 10_000 {
		if c.closed[id] {
			assert.Empty(t, c.in[id], "what the server sent on stream %d before closing it", id)
			return
		}
		c.frame()
	}
	t.Fatalf("stream %d not closed", id)
}

// v22SendUntilClosed writes b on stream id of c within the window the
// server grants until the server closes the stream, and returns how many
// bytes were written.
func v22SendUntilClosed(t *testing.T, c *chargeSession, id uint32, b []byte) int {
	t.Helper()
	sent := 0
	for range 100_000 {
		if c.closed[id] {
			return sent
		}
		if len(b) == sent || c.credit[id] <= 0 {
			c.frame()
			continue
		}
		k := min(int(c.credit[id]), len(b)-sent, 64<<10)
		c.c.write(yamuxFrame(0, 0, id, uint32(k)), b[sent:sent+k])
		c.credit[id] -= int64(k)
		sent += k
	}
	t.Fatalf("stream %d not closed", id)
	return sent
}

// v22StillServes checks that the session of c still serves: a ping is
// answered, and a new call stream answers Arith.Add.
func v22StillServes(t *testing.T, c *chargeSession) {
	t.Helper()
	id := c.open()
	c.send(id, chargeRequest(1, "Arith.Add", []byte{0x92, 0x03, 0x04}))
	r := parseResponse(t, c.read(id))
	assert.Nil(t, r.err)
	assert.EqualValues(t, 7, r.result, "a new call stream on the same session")
}

// TestAttackVaudit22TrickledOpenings: PROTOCOL.md 7, "Each stream a
// client opens must send its first byte, and a streaming call its whole
// opening request, within SniffTimeout of the stream's accept, or it is
// closed": streaming calls whose opening request trickles in a byte a
// second, never pausing long enough for the partial-message timeout, are
// closed 10 s after they were opened, without a status, and the session
// goes on.
func TestAttackVaudit22TrickledOpenings(t *testing.T) {
	needAttacks(t)
	// Mostly waiting for the server's timeouts: run beside the other
	// waiting tests, after the attacks that load the machine (in the
	// attacks' own process: .ci/run runs only TestAttackVaudit22Keepalive
	// in a second one).
	t.Parallel()
	srv := startArith(t, buildArithServer(t))
	c := dialCharge(t, srv.addr)
	open := streamOpening("Echo.Chat")
	ids := []uint32{c.open(), c.open(), c.open()}
	start := time.Now()
	for _, id := range ids {
		c.send(id, open[:1])
	}
	closedAt := map[uint32]time.Duration{}
	for i := 1; i < len(open) && len(closedAt) < len(ids); i++ {
		for _, id := range ids {
			if !c.closed[id] {
				c.c.write(dataFrame(id, 0, open[i:i+1]))
			}
		}
		next := start.Add(time.Duration(i) * time.Second)
		for time.Now().Before(next) {
			f, length, err := gapFrame(c.c, time.Until(next))
			if isTimeout(err) {
				break
			}
			require.NoError(t, err)
			if f.typ == 2 && f.flags&1 != 0 {
				c.c.write(yamuxFrame(2, 2, 0, length))
			}
			if f.flags&(4|8) != 0 && closedAt[f.stream] == 0 {
				c.closed[f.stream] = true
				closedAt[f.stream] = time.Since(start)
			}
			if f.typ == 1 {
				c.credit[f.stream] += int64(length)
			}
			c.in[f.stream] = append(c.in[f.stream], f.data...)
		}
	}
	t.Logf("opening of %d bytes; closed at %v", len(open), closedAt)
	require.Len(t, closedAt, len(ids), "every trickled stream closed")
	for _, id := range ids {
		assert.Less(t, closedAt[id], 11500*time.Millisecond, "stream %d closed within SniffTimeout of its accept", id)
		assert.Empty(t, c.in[id], "stream %d: nothing before the close", id)
	}
	v22StillServes(t, c)
}

// TestVaudit22OpeningWindow: PROTOCOL.md 8, "each stream starts at
// yamux's 256 KiB; ... an opener may send 256 KiB before the accept
// arrives and 1 MiB outstanding after", against the example server from
// raw frames: a stream opened by a data frame of exactly 256 KiB (an
// Echo.Echo request) is answered, and one more byte in it ends the
// session; after the accept, a frame of exactly 1 MiB is taken whole.
func TestVaudit22OpeningWindow(t *testing.T) {
	srv := startArith(t, buildArithServer(t))
	c := dialCharge(t, srv.addr)
	req, k := v22Echo(7, 256<<10)
	id := c.next
	c.next += 2
	c.c.write(dataFrame(id, 1, req)) // SYN and the whole request in one frame
	c.credit[id] = 256<<10 - int64(len(req))
	r := parseResponse(t, c.read(id))
	require.Nil(t, r.err)
	assert.Len(t, r.result, k, "256 KiB in the frame that opens the stream")

	// After the accept (read above), 1 MiB in one frame.
	id = c.open()
	for c.credit[id] < 1<<20 {
		c.frame()
	}
	req, k = v22Echo(8, 1<<20)
	c.c.write(dataFrame(id, 0, req))
	c.credit[id] -= int64(len(req))
	r = parseResponse(t, c.read(id))
	require.Nil(t, r.err)
	assert.Len(t, r.result, k, "1 MiB outstanding after the accept")

	req, _ = v22Echo(9, 256<<10+1)
	_ = c.c.writeMay(dataFrame(c.next, 1, req))
	_ = c.c.writeMay(yamuxFrame(2, 1, 0, 77))
	assert.False(t, readPingAck(t, c.c, 77), "a byte past 256 KiB before the accept ends the session")
	c.c.discardUntilClosed(5 * time.Second)
	took, err := probeAdd(srv.addr)
	require.NoError(t, err, "a fresh client after %v", took)
}

// TestAttackVaudit22PartialStalls: PROTOCOL.md 5, "A peer that holds part
// of a message without sending more of it for PartialMessageTimeout
// (10 s) has that stream (bare: the connection) closed", against the
// example server: Echo.Echo requests of every size class, each missing
// its last byte, on call streams of one session and on bare connections.
// Each stream and connection is closed about 10 s after its last byte,
// without an answer; the session goes on serving, and so does the server.
func TestAttackVaudit22PartialStalls(t *testing.T) {
	needAttacks(t)
	// Mostly waiting for the server's timeouts: run beside the other
	// waiting tests, after the attacks that load the machine.
	t.Parallel()
	s := besiege(t)
	c := dialCharge(t, s.p.addr)
	sent := map[uint32]time.Time{}
	size := map[uint32]int{}
	for _, n := range v22Sizes {
		id := c.open()
		req, _ := v22Echo(1, n)
		c.send(id, req[:n-1])
		sent[id], size[id] = time.Now(), n
	}
	bares := make([]chan time.Duration, len(v22Sizes))
	for i, n := range v22Sizes {
		bares[i] = make(chan time.Duration, 1)
		b := dialRaw(t, s.p.addr)
		req, _ := v22BareEcho(1, n)
		go func() {
			if b.writeMay(req[:n-1]) != nil {
				bares[i] <- -1
				return
			}
			took, _ := b.discardUntilClosed(20 * time.Second)
			bares[i] <- took
		}()
	}
	for id := range sent {
		v22Closed(t, c, id)
		took := time.Since(sent[id])
		t.Logf("call stream with %d of %d bytes closed %v after its last byte", size[id]-1, size[id], took.Round(time.Millisecond))
		assert.Greater(t, took, 9*time.Second, "%d bytes", size[id])
		assert.Less(t, took, 13*time.Second, "%d bytes", size[id])
	}
	v22StillServes(t, c)
	for i, ch := range bares {
		took := <-ch
		t.Logf("bare connection with %d of %d bytes closed %v after its last byte", v22Sizes[i]-1, v22Sizes[i], took.Round(time.Millisecond))
		assert.Greater(t, took, 9*time.Second, "%d bytes", v22Sizes[i])
		assert.Less(t, took, 13*time.Second, "%d bytes", v22Sizes[i])
	}
	s.finish()
}

// TestAttackVaudit22Keepalive: PROTOCOL.md 8, "keepalive every 15 s,
// write timeout 10 s (a dead peer is noticed within about 25 s)", against
// the example server: a raw session that reads everything but never
// answers a ping is closed about 25 s after its hello; one that answers
// them is still served after 30 s of silence (no idle timeout ends it).
func TestAttackVaudit22Keepalive(t *testing.T) {
	needAttacks(t)
	// Mostly waiting for the server's timeouts: run beside the other
	// waiting tests, after the attacks that load the machine (.ci/run
	// runs it in a process of its own beside the attacks: it loads
	// neither core, and its bounds are seconds wide).
	t.Parallel()
	srv := startArith(t, buildArithServer(t))
	deaf := helloRaw(t, srv.addr)
	start := time.Now()
	live := dialCharge(t, srv.addr)
	deadAfter := make(chan time.Duration, 1)
	pings := make(chan int, 1)
	go func() {
		n := 0
		for range 1000 {
			f, _, err := gapFrame(deaf, 40*time.Second)
			if err != nil {
				break
			}
			if f.typ == 2 && f.flags&1 != 0 {
				n++
			}
		}
		pings <- n
		deadAfter <- time.Since(start)
	}()
	// The live session answers pings (chargeSession.frame does) until 30 s
	// have passed.
	for time.Since(start) < 30*time.Second {
		_, length, err := gapFrame(live.c, 31*time.Second-time.Since(start))
		if isTimeout(err) {
			break
		}
		require.NoError(t, err, "the live session")
		live.c.write(yamuxFrame(2, 2, 0, length)) // every frame from an idle server is a ping
	}
	took := <-deadAfter
	t.Logf("the session that answers no ping was closed after %v, having got %d pings", took.Round(time.Millisecond), <-pings)
	assert.Greater(t, took, 20*time.Second)
	assert.Less(t, took, 28*time.Second)
	v22StillServes(t, live)
}

// TestVaudit22DrainSkipsPartialRequests: PROTOCOL.md 4, "Going away",
// step 3 ("a request that has only partly arrived is not read, nor waited
// for") and the bare peer's end, against the example server stopped with
// SIGTERM while raw peers hold Echo.Echo requests of 1 KiB and of 4 MiB
// one byte short: each session gets $ferry.drained [2] (the hello and one
// answered call), each bare connection its end with no answer, and the
// process exits 0 well before the partial-message timeout (10 s).
func TestVaudit22DrainSkipsPartialRequests(t *testing.T) {
	srv := startArith(t, buildArithServer(t))
	var sessions []*chargeSession
	var bares []*rawConn
	for _, n := range []int{1 << 10, docMaxMessage} {
		c := dialCharge(t, srv.addr)
		r := c.call(chargeRequest(2, "Arith.Add", []byte{0x92, 0x03, 0x04}))
		require.EqualValues(t, 7, r.result)
		req, _ := v22Echo(3, n)
		c.send(1, req[:n-1])
		sessions = append(sessions, c)

		b := dialRaw(t, srv.addr)
		require.EqualValues(t, 7, b.call(request(2, "Arith.Add", []any{3, 4})).result)
		req, _ = v22BareEcho(3, n)
		b.write(req[:n-1])
		bares = append(bares, b)
	}
	// Whatever is still in flight has arrived once a call behind it on
	// another connection is answered; the partial requests are being held.
	_, err := probeAdd(srv.addr)
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, srv.cmd.Process.Signal(sigterm))
	type drained struct {
		msgs  [][]any
		ended bool
		err   error
		at    time.Duration
	}
	seen := make([]chan drained, len(sessions))
	for i, c := range sessions {
		seen[i] = make(chan drained, 1)
		go func() {
			msgs, ended, err := v22Drained(c)
			seen[i] <- drained{msgs, ended, err, time.Since(start)}
		}()
	}
	for i, ch := range seen {
		d := <-ch
		require.NoError(t, d.err, "session %d", i)
		msgs, ended := d.msgs, d.ended
		require.NotEmpty(t, msgs, "session %d", i)
		assert.Equal(t, "$ferry.goaway", msgs[0][1], "session %d", i)
		last := msgs[len(msgs)-1]
		assert.Equal(t, []any{int8(2), "$ferry.drained", []any{int8(2)}}, last, "session %d: the hello and the call answered", i)
		assert.True(t, ended, "session %d: the call stream ended", i)
		t.Logf("session %d: %v, ended %v after SIGTERM", i, msgs, d.at.Round(time.Millisecond))
	}
	for i, b := range bares {
		took, n := b.discardUntilClosed(10 * time.Second)
		assert.Zero(t, n, "bare %d: no answer to the partial request", i)
		t.Logf("bare %d: closed %v after SIGTERM", i, took.Round(time.Millisecond))
	}
	require.NoError(t, srv.wait(t, 15*time.Second), "stderr: %s", srv.stderr)
	took := time.Since(start)
	t.Logf("exited %v after SIGTERM", took.Round(time.Millisecond))
	assert.Less(t, took, 5*time.Second, "the drain waited for the partial requests")
}

// v22Drained reads what the server sends on c's call stream until it
// ends (a FIN or RST, or the connection's end), answering pings and
// tolerating the session's go-away, and returns the messages, whether the
// stream ended by a FIN or RST, and a read's error other than the end.
func v22Drained(c *chargeSession) ([][]any, bool, error) {
	var in []byte
	for range 100_000 {
		f, length, err := gapFrame(c.c, 20*time.Second)
		if err != nil {
			if isTimeout(err) {
				return v22Split(in), false, err
			}
			return v22Split(in), false, nil
		}
		switch {
		case f.typ == 2 && f.flags&1 != 0:
			if err := c.c.writeMay(yamuxFrame(2, 2, 0, length)); err != nil {
				return v22Split(in), false, err
			}
		case f.stream == 1:
			in = append(in, f.data...)
			if f.flags&(4|8) != 0 {
				return v22Split(in), true, nil
			}
		}
	}
	return v22Split(in), false, errors.New("the call stream did not end within 100,000 frames")
}

// v22Split decodes the whole messages at the start of b.
func v22Split(b []byte) [][]any {
	var out [][]any
	d := msgpack.NewDecoder(bytes.NewReader(b))
	for range 10_000 {
		var m []any
		if d.Decode(&m) != nil {
			return out
		}
		out = append(out, m)
	}
	return out
}

// TestVaudit22DeafPeerHoldsNoOtherDrain: PROTOCOL.md 4, "Going away": the
// server "drains each connection in this order", and server.Shutdown's
// own rule, "a stalled peer must not hold the others' drain". Against
// the example server stopped with SIGTERM while one raw session reads
// nothing at all (it answers no ping), another session that answers its
// ping at once must get its $ferry.drained and the end of its call stream
// at once, and a bare connection its end. Before, every connection waited
// for the deaf one's ping to time out (10 s, the example's whole -grace):
// $ferry.drained came 10 s after SIGTERM. The deaf session holds only
// itself, until -grace ends; no call was cut off, so the server exits 0
// ("exits 0 when they all finished": it exited 1).
func TestVaudit22DeafPeerHoldsNoOtherDrain(t *testing.T) {
	srv := startArith(t, buildArithServer(t), "-grace", "2s")
	live := dialCharge(t, srv.addr)
	_ = dialCharge(t, srv.addr) // deaf: reads nothing after its hello
	bare := dialRaw(t, srv.addr)
	require.EqualValues(t, 7, bare.call(request(2, "Arith.Add", []any{3, 4})).result)
	start := time.Now()
	require.NoError(t, srv.cmd.Process.Signal(sigterm))
	msgs, ended, err := v22Drained(live)
	took := time.Since(start)
	require.NoError(t, err)
	t.Logf("the live session: %v, its call stream ended %v after SIGTERM", msgs, took.Round(time.Millisecond))
	assert.True(t, ended, "the live session's call stream ended")
	assert.Equal(t, []any{int8(2), "$ferry.drained", []any{int8(1)}}, msgs[len(msgs)-1])
	assert.Less(t, took, 3*time.Second, "the live session's drain waited for the deaf one")
	_, _ = bare.discardUntilClosed(15 * time.Second)
	t.Logf("the bare connection ended %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	err = srv.wait(t, 15*time.Second)
	took = time.Since(start)
	t.Logf("the server exited %v after SIGTERM (%v); stderr: %s", took.Round(time.Millisecond), err, srv.stderr)
	assert.NoError(t, err, "no call was cut off: exit 0")
	assert.GreaterOrEqual(t, took, 2*time.Second, "the deaf session is given the whole -grace to answer")
}
