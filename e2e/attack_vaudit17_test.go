package e2e_test

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slowReader is one bare connection that pipelines echo requests as fast
// as the server takes them and reads the replies slowly.
type slowReader struct {
	sent, read atomic.Int64
	writeErr   error
	readErr    error
}

// run pipelines 64 KiB echoes for d while reading chunk bytes every tick.
func (a *slowReader) run(addr string, d time.Duration, chunk int, tick time.Duration) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		a.writeErr = err
		return
	}
	defer conn.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, chunk)
		until(d+2*time.Second, 100_000, func(int) bool {
			time.Sleep(tick) // the attack: a reader this slow
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := conn.Read(buf)
			a.read.Add(int64(n))
			a.readErr = err
			return err == nil
		})
	}()
	payload := append(binHeader(64<<10), make([]byte, 64<<10)...)
	until(d, 100_000, func(i int) bool {
		b := binary.BigEndian.AppendUint32([]byte{0x94, 0x00, 0xce}, uint32(i))
		b = append(append(append(b, str8("Echo.Echo")...), 0x91), payload...)
		_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
		n, err := conn.Write(b)
		a.sent.Add(int64(n))
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			a.writeErr = err
			return false
		}
		return true
	})
	wg.Wait()
}

// TestAttackVaudit17SlowReaders: bare connections that pipeline 64 KiB
// echoes and read the replies at 320 KiB/s, slowly enough that replies
// pile up but never so slowly that one write stalls for WriteTimeout:
// the memory budget, not the write deadline, has to bound what the
// server queues for them (SECURITY.md: "replies that pile up past it,
// end the session").
func TestAttackVaudit17SlowReaders(t *testing.T) {
	needAttacks(t)
	s := besiege(t)
	const conns, d = 4, 6 * time.Second
	as := make([]*slowReader, conns)
	var wg sync.WaitGroup
	for i := range as {
		as[i] = &slowReader{}
		wg.Add(1)
		go func() { defer wg.Done(); as[i].run(s.p.addr, d, 32<<10, 100*time.Millisecond) }()
	}
	wg.Wait()
	for i, a := range as {
		t.Logf("attacker %d: sent %.1f MiB, read %.1f MiB; write stopped by %v, read by %v",
			i, float64(a.sent.Load())/(1<<20), float64(a.read.Load())/(1<<20), a.writeErr, a.readErr)
	}
	s.finish()
}
