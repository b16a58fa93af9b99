package e2e_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// helloSession is the bytes that open a session and its call stream and
// say hello on it (PROTOCOL.md 4): a window update with SYN for stream 1,
// then a data frame carrying the hello request.
func helloSession() []byte {
	hello := request(1, "$ferry.hello", []any{map[string]any{}}, map[string]any{})
	b := yamuxFrame(1, 1, 1, 0)
	b = append(b, yamuxFrame(0, 0, 1, uint32(len(hello)))...)
	return append(b, hello...)
}

// readSessionReply reads session frames until a data frame with a payload
// arrives on stream 1, and returns the payload.
func readSessionReply(r *bufio.Reader) ([]byte, error) {
	for range 16 {
		var h [12]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return nil, err
		}
		n := binary.BigEndian.Uint32(h[8:])
		if h[1] != 0 || n == 0 { // a window update, a ping, or an empty data frame
			continue
		}
		if n > 1<<20 {
			return nil, fmt.Errorf("a data frame of %d bytes", n)
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(r, p); err != nil {
			return nil, err
		}
		if binary.BigEndian.Uint32(h[4:]) == 1 {
			return p, nil
		}
	}
	return nil, fmt.Errorf("no reply on the call stream within 16 frames")
}

// TestAttackIdleSessions: thousands of connections that each complete the
// session handshake (hello answered) and then go quiet, 8,000 of them from
// four loopback addresses. The example server's 192 MiB Go memory limit
// makes its connection bounds 3,072 in total and 768 per address
// (server.DefaultConnLimits): past them, each newcomer closes a quiet
// session of its own address. The server must hold no more than the
// bound, stay within the RSS bound, and serve fresh clients throughout.
func TestAttackIdleSessions(t *testing.T) {
	needAttacks(t)
	s := besiege(t)
	const (
		perIP0  = 2000
		ips     = 4
		workers = 16
	)
	perIP := perIP0
	if v, err := strconv.Atoi(os.Getenv("ATTACK_PERIP")); err == nil {
		perIP = v
	}
	rss0 := s.rss()
	hello := helloSession()
	var (
		mu     sync.Mutex
		conns  []net.Conn
		failed atomic.Int64
		first  atomic.Value
	)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	start := time.Now()
	end := start.Add(20 * time.Second)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ip := net.IPv4(127, 0, 0, byte(2+w%ips))
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 5 * time.Second}
			for range perIP * ips / workers {
				if time.Now().After(end) {
					return
				}
				c, err := d.Dial("tcp", s.p.addr)
				if err != nil {
					failed.Add(1)
					first.CompareAndSwap(nil, err.Error())
					continue
				}
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				_, err = c.Write(hello)
				var reply []byte
				if err == nil {
					reply, err = readSessionReply(bufio.NewReaderSize(c, 512))
				}
				if err == nil {
					var msg []any
					if err = msgpack.Unmarshal(reply, &msg); err == nil && (len(msg) < 4 || msg[2] != nil) {
						err = fmt.Errorf("hello answered %v", msg)
					}
				}
				if err != nil {
					c.Close()
					failed.Add(1)
					first.CompareAndSwap(nil, err.Error())
					continue
				}
				_ = c.SetDeadline(time.Time{})
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	opened := time.Since(start)
	rss1 := s.rss()
	s.alive()
	// Idle for a while: the server must not spend on them, nor let go of
	// fresh clients.
	cpu0, err := procCPU(s.pid)
	require.NoError(t, err)
	idle := time.NewTimer(3 * time.Second)
	<-idle.C
	cpu1, err := procCPU(s.pid)
	require.NoError(t, err)
	mu.Lock()
	n := len(conns)
	mu.Unlock()
	t.Logf("%d sessions opened in %v (%d failed, first: %v); RSS %.0f → %.0f MiB; idle CPU %v in 3 s",
		n, opened.Round(time.Millisecond), failed.Load(), first.Load(), float64(rss0)/(1<<20), float64(rss1)/(1<<20), cpu1-cpu0)
	assert.Greater(t, n, perIP*ips/2, "sessions the server accepted")
	mu.Lock()
	open := n - countClosed(conns)
	mu.Unlock()
	t.Logf("%d of the %d sessions still open", open, n)
	if perIP == perIP0 {
		assert.LessOrEqual(t, open, 3072, "the server holds at most its connection bound")
	}
	s.finish()
}

// TestAttackSessionFrames: session frames the server does not expect,
// after a proper hello, on four connections: window updates of the
// largest delta on the call stream (the send window would overflow),
// data frames of 64 KiB on stream ids never opened, and a go-away
// followed by more streams and data. The server must stay within its
// bounds and serve fresh clients; what it does with the attacker is
// logged.
func TestAttackSessionFrames(t *testing.T) {
	needAttacks(t)
	s := besiege(t)
	body := make([]byte, 64<<10)
	kinds := map[string]func(i int) []byte{
		"window-overflow": func(int) []byte { return yamuxFrame(1, 0, 1, 0xffffffff) },
		"data-unknown-ids": func(i int) []byte {
			return append(yamuxFrame(0, 0, uint32(1001+2*i), uint32(len(body))), body...)
		},
		"goaway-then-more": func(i int) []byte {
			if i == 0 {
				return yamuxFrame(3, 0, 0, 0)
			}
			hello := request(1, "$ferry.hello", []any{map[string]any{}}, map[string]any{})
			b := yamuxFrame(1, 1, uint32(1+2*i), 0)
			return append(append(b, yamuxFrame(0, 0, uint32(1+2*i), uint32(len(hello)))...), hello...)
		},
		"data-after-fin": func(i int) []byte {
			if i == 0 {
				return yamuxFrame(1, 4, 1, 0) // FIN on the call stream
			}
			return append(yamuxFrame(0, 0, 1, 1024), body[:1024]...)
		},
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	notes := map[string]string{}
	for name, msg := range kinds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", s.p.addr)
			note := ""
			defer func() { mu.Lock(); notes[name] = note; mu.Unlock() }()
			if err != nil {
				note = err.Error()
				return
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err = conn.Write(helloSession()); err == nil {
				_, err = readSessionReply(bufio.NewReader(conn))
			}
			if err != nil {
				note = "hello: " + err.Error()
				return
			}
			// Read and drop whatever the server sends, so that only
			// the frames themselves are the attack.
			go func() { _ = conn.SetReadDeadline(time.Now().Add(10 * time.Second)); _, _ = io.Copy(io.Discard, conn) }()
			var sent int64
			var werr error
			until(5*time.Second, 1_000_000, func(i int) bool {
				_ = conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
				n, err := conn.Write(msg(i))
				sent += int64(n)
				werr = err
				return err == nil
			})
			note = fmt.Sprintf("%.1f MiB sent; stopped by %v", float64(sent)/(1<<20), werr)
		}()
	}
	wg.Wait()
	for name, n := range notes {
		t.Logf("%s: %s", name, n)
	}
	s.finish()
}

// countClosed reports how many of cs the peer has closed: reading finds
// EOF or a reset, rather than a 2 s timeout, after what was sent. Each
// read's deadline counts from its own start: a deadline that passed
// before a read begins fails it without looking, and thousands of
// goroutines start late on a loaded machine.
func countClosed(cs []net.Conn) int {
	var closed atomic.Int64
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 4<<10)
			var err error
			for err == nil {
				_, err = c.Read(buf)
			}
			if ne := net.Error(nil); !errors.As(err, &ne) || !ne.Timeout() {
				closed.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(closed.Load())
}
