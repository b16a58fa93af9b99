package e2e_test

// Audit attacks (see attack_audit_test.go): connections that half-close,
// send their preface slowly, or keep busy at the connection bounds.

import (
	"bufio"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
	// Mostly waiting (a byte every 250 ms until the server's 10 s bound):
	// run beside the other waiting tests, after the attacks that load the
	// machine.
	t.Parallel()
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
