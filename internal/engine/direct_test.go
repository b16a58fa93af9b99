package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/ferryrpc/ferry/internal/registry"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// peakAccount records the most a reader ever had charged.
type peakAccount struct {
	mu         sync.Mutex
	held, peak int
}

func (a *peakAccount) Charge(n int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.held += n
	a.peak = max(a.peak, a.held)
	return true
}

func (a *peakAccount) Release(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.held -= n
}

func (a *peakAccount) max() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.peak
}

// TestDirectBodiesSkipTheReaderBuffer: a large []byte argument and reply
// are read straight into their slices, so neither reader's buffer grows
// for them; a reply of another type takes the whole message through the
// client's buffer, as before.
func TestDirectBodiesSkipTheReaderBuffer(t *testing.T) {
	r := registry.New()
	require.NoError(t, r.Add(registry.Typed("B.Echo", func(_ context.Context, p *[]byte) (*[]byte, error) { return p, nil })))
	a, b := announcedPipe()
	srv := New(a, Options{Registry: r, FerryPeer: true})
	cli := New(b, Options{FerryPeer: true})
	var sa, ca peakAccount
	srv.rd.SetAccount(&sa)
	cli.rd.SetAccount(&ca)
	srv.Start()
	cli.Start()
	t.Cleanup(func() {
		cli.Close()
		srv.Close()
	})

	payload := bytes.Repeat([]byte("0123456789abcdef"), 300<<10/16)
	var reply []byte
	require.NoError(t, cli.Call(context.Background(), "B.Echo", payload, &reply))
	assert.Equal(t, payload, reply)
	assert.Less(t, sa.max(), directMin, "the server's reader held the argument")
	assert.Less(t, ca.max(), directMin, "the client's reader held the reply")

	var s string
	require.NoError(t, cli.Call(context.Background(), "B.Echo", payload, &s))
	assert.Equal(t, string(payload), s)
	assert.Less(t, sa.max(), directMin)
	assert.Greater(t, ca.max(), len(payload), "a string reply is decoded from the whole message")
}

// BytesSvc takes []byte arguments by value and by pointer, net/rpc style.
type BytesSvc struct{}

// Len returns the length of its argument.
func (BytesSvc) Len(_ context.Context, p []byte, n *int) error { *n = len(p); return nil }

// PtrLen returns the length of its argument.
func (BytesSvc) PtrLen(_ context.Context, p *[]byte, n *int) error { *n = len(*p); return nil }

// TestDirectArgsShapes: every way to take a []byte gets the bin, straight
// or (a pointer to a pointer) through the whole message.
func TestDirectArgsShapes(t *testing.T) {
	r := registry.New()
	ms, err := registry.Reflect("", BytesSvc{})
	require.NoError(t, err)
	require.NoError(t, r.Add(ms...))
	require.NoError(t, r.Add(registry.Typed("B.PtrPtr", func(_ context.Context, p **[]byte) (*int, error) {
		n := len(**p)
		return &n, nil
	})))
	a, b := announcedPipe()
	srv := New(a, Options{Registry: r, FerryPeer: true})
	cli := New(b, Options{FerryPeer: true})
	var sa peakAccount
	srv.rd.SetAccount(&sa)
	srv.Start()
	cli.Start()
	t.Cleanup(func() {
		cli.Close()
		srv.Close()
	})
	payload := make([]byte, 200<<10)
	for _, m := range []string{"BytesSvc.Len", "BytesSvc.PtrLen"} {
		var n int
		require.NoError(t, cli.Call(context.Background(), m, payload, &n), m)
		assert.Equal(t, len(payload), n, m)
	}
	assert.Less(t, sa.max(), directMin)
	var n int
	require.NoError(t, cli.Call(context.Background(), "B.PtrPtr", payload, &n))
	assert.Equal(t, len(payload), n)
	assert.Greater(t, sa.max(), len(payload), "a **[]byte is decoded from the whole message")
}

// stallingReplier answers the first request it reads on conn with the
// head of a response whose bin result declares body bytes and carries
// sent of them, then, when trickle, 1 KiB every 10 ms (up to 5 s), and
// then nothing more until conn is closed.
func stallingReplier(t *testing.T, conn net.Conn, body, sent int, trickle bool) {
	t.Helper()
	go func() {
		rd := wire.NewReader(conn, wire.DefaultLimits)
		b, err := rd.Next()
		if err != nil {
			return
		}
		m, err := wire.Parse(b)
		if err != nil {
			return
		}
		resp := []byte{0x94, 0x01, 0xce, 0, 0, 0, 0, 0xc0, 0xc6, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(resp[3:], m.ID)
		binary.BigEndian.PutUint32(resp[9:], uint32(body))
		_, _ = conn.Write(append(resp, bytes.Repeat([]byte{0xa5}, sent)...))
		for i := 0; trickle && i < 500; i++ {
			time.Sleep(10 * time.Millisecond) // a slow peer, not a wait for an event
			if _, err := conn.Write(make([]byte, 1<<10)); err != nil {
				return
			}
		}
		_, _ = io.Copy(io.Discard, conn)
	}()
}

// TestDirectReplyHonorsDeadline: a call whose large []byte reply has
// begun to arrive still ends with its context when the peer stalls in the
// body (on a conn without a stall timeout) or trickles it, whether the
// reply is read into a new array or into the caller's.
func TestDirectReplyHonorsDeadline(t *testing.T) {
	type tc struct{ inPlace, async, trickle bool }
	var cases []tc
	for i := range 8 {
		cases = append(cases, tc{i&1 != 0, i&2 != 0, i&4 != 0})
	}
	for _, c := range cases {
		inPlace := c.inPlace
		a, b := announcedPipe()
		budget := transport.NewBudget(64<<20, nil)
		opts := Options{Budget: budget}
		if c.trickle {
			opts.StallTimeout = time.Minute
		}
		cli := New(b, opts)
		cli.Start()
		stallingReplier(t, a, 1<<20, 100<<10, c.trickle)

		var reply []byte
		if inPlace {
			reply = make([]byte, 0, 2<<20)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		done := make(chan error, 1)
		if c.async {
			call := cli.Go(ctx, "M", []byte("x"), &reply)
			go func() { done <- call.Wait() }()
		} else {
			go func() { done <- cli.Call(ctx, "M", []byte("x"), &reply) }()
		}
		var err error
		select {
		case err = <-done:
		case <-time.After(5 * time.Second):
			t.Errorf("%+v: the call outlived its deadline by 5 s", c)
			a.Close() // ends the read, and the call
			err = <-done
		}
		cancel()
		assert.ErrorIs(t, err, context.DeadlineExceeded, "%+v", c)
		a.Close()
		cli.Close()
		<-cli.readDone
		assert.Equal(t, int64(0), budget.Used(), "%+v: charges left", c)
	}
}

// rawRequest is a request (typ 0) or notification (typ 2) to method whose
// params are a bin (wrapped in an array when wrapped) that declares
// declared bytes and carries body, followed by ext when not nil.
func rawRequest(typ byte, id uint32, method string, wrapped bool, declared int, body, ext []byte) []byte {
	n := byte(0x94)
	if typ == 2 {
		n = 0x93
	}
	if ext != nil {
		n++
	}
	b := []byte{n, typ}
	if typ != 2 {
		b = binary.BigEndian.AppendUint32(append(b, 0xce), id)
	}
	b = append(append(b, 0xa0|byte(len(method))), method...)
	if wrapped {
		b = append(b, 0x91)
	}
	b = binary.BigEndian.AppendUint32(append(b, 0xc6), uint32(declared))
	b = append(b, body...)
	if len(body) == declared {
		b = append(b, ext...)
	}
	return b
}

// bodyOf is n bytes (up to 4 MiB) of a pattern that no allocator leaves
// behind; read only.
func bodyOf(n int) []byte { return bodyPattern()[:n:n] }

var bodyPattern = sync.OnceValue(func() []byte {
	b := make([]byte, wire.DefaultLimits.MaxMessage)
	for i := range b {
		b[i] = byte(i*7+i>>8) | 1
	}
	return b
})

// directPeer is an engine serving B.Len, which checks that its argument
// is bodyOf(len) and returns the length (-1 when it is not), over a pipe
// whose other end the test writes raw bytes into; replies are parsed and
// sent on the returned channel. A body stalled for stall ends the conn.
func directPeer(t *testing.T, budget *transport.Budget, stall time.Duration) (srv *Channel, raw net.Conn, replies chan wire.Message, ran chan int) {
	t.Helper()
	ran = make(chan int, 64)
	r := registry.New()
	require.NoError(t, r.Add(registry.Typed("B.Len", func(_ context.Context, p *[]byte) (*int, error) {
		n := len(*p)
		if !bytes.Equal(*p, bodyOf(n)) {
			n = -1
		}
		ran <- n
		return &n, nil
	})))
	a, b := announcedPipe()
	srv = New(a, Options{Registry: r, Budget: budget, StallTimeout: stall, FerryPeer: true})
	srv.Start()
	replies = make(chan wire.Message, 64)
	go func() {
		defer close(replies)
		rd := wire.NewReader(b, wire.DefaultLimits)
		for {
			msg, err := rd.Next()
			if err != nil {
				return
			}
			m, err := wire.Parse(msg)
			if err != nil {
				return
			}
			m.Error, m.Result = bytes.Clone(m.Error), bytes.Clone(m.Result)
			replies <- m
		}
	}()
	t.Cleanup(func() {
		b.Close()
		srv.Close()
	})
	return srv, b, replies, ran
}

// ended waits for srv's reader to return, and then for its budget to be
// spent on nothing.
func ended(t *testing.T, srv *Channel, budget *transport.Budget) {
	t.Helper()
	select {
	case <-srv.readDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the reader did not return")
	}
	srv.Close()
	assert.Equal(t, int64(0), budget.Used(), "charges left")
}

// TestDirectArgsCutShort: a large bin argument cut short, by the end of
// input, a stall, or a length past the size limit, ends the conn without
// running the handler, and gives back every charge.
func TestDirectArgsCutShort(t *testing.T) {
	max := wire.DefaultLimits.MaxMessage
	head := len(rawRequest(0, 1, "B.Len", true, 0, nil, nil))
	for _, c := range []struct {
		name     string
		declared int
		sent     int
		keepOpen bool
		ext      []byte // partial: not nil for a fifth element
	}{
		{name: "64 KiB, end of input in the body", declared: 64 << 10, sent: 1000},
		{name: "1 MiB-1, end of input in the body", declared: 1<<20 - 1, sent: 300 << 10},
		{name: "255 KiB, end of input before the extensions", declared: 255 << 10, sent: 255 << 10, ext: []byte{}},
		{name: "255 KiB, end of input in the extensions", declared: 255 << 10, sent: 255 << 10, ext: []byte{0x81, 0xa1}},
		{name: "255 KiB, stalled in the body", declared: 255 << 10, sent: 100 << 10, keepOpen: true},
		{name: "255 KiB, stalled in the extensions", declared: 255 << 10, sent: 255 << 10, keepOpen: true, ext: []byte{0x81, 0xa1}},
		{name: "past the size limit", declared: max - head + 1, sent: 1000, keepOpen: true},
		{name: "extensions past the size limit", declared: max - head - 3, sent: max - head - 3, keepOpen: true, ext: []byte{0x81, 0xa1, 'm', 0x80}},
	} {
		t.Run(c.name, func(t *testing.T) {
			budget := transport.NewBudget(64<<20, nil)
			srv, raw, replies, ran := directPeer(t, budget, 200*time.Millisecond)
			msg := rawRequest(0, 1, "B.Len", true, c.declared, bodyOf(c.sent), c.ext)
			_, err := raw.Write(msg)
			if err != nil { // the reader stopped first (past the limit)
				t.Logf("write: %v", err)
			}
			if !c.keepOpen {
				raw.Close()
			}
			ended(t, srv, budget)
			assert.Empty(t, ran, "a handler ran")
			for m := range replies {
				t.Errorf("a reply: %+v", m)
			}
		})
	}
}

// TestDirectArgsPipelined: small and large bin arguments of every size
// class, wrapped or not, with or without extensions, up to the size limit
// exactly, to a []byte method, an unknown one and as a notification, in
// one stream, each reach their handler intact or get their error, and
// the conn gives back every charge.
func TestDirectArgsPipelined(t *testing.T) {
	budget := transport.NewBudget(64<<20, nil)
	srv, raw, replies, ran := directPeer(t, budget, 20*time.Second) // no stall here
	max := wire.DefaultLimits.MaxMessage
	exact := max - len(rawRequest(0, 1, "B.Len", false, 0, nil, []byte{0x80}))
	type call struct {
		typ     byte
		method  string
		wrapped bool
		n       int
		ext     []byte
	}
	calls := []call{
		{0, "B.Len", true, 10, nil},
		{0, "B.Len", true, 64<<10 - 1, nil},
		{0, "B.Len", true, 64 << 10, nil},
		{0, "B.Len", false, 64 << 10, []byte{0x80}},
		{0, "B.Len", true, 255 << 10, []byte{0x81, 0xa1, 'm', 0x81, 0xa1, 'k', 0xa1, 'v'}},
		{0, "B.Nope", true, 255 << 10, []byte{0x80}},
		{2, "B.Len", true, 255 << 10, nil},
		{0, "B.Len", false, 1<<20 - 1, nil},
		{0, "B.Len", true, 10, []byte{0x80}},
		{0, "B.Len", false, exact, []byte{0x80}},
		{0, "B.Len", true, 100, nil},
	}
	go func() {
		for i, c := range calls {
			if _, err := raw.Write(rawRequest(c.typ, uint32(i+1), c.method, c.wrapped, c.n, bodyOf(c.n), c.ext)); err != nil {
				return
			}
		}
	}()
	got := map[uint32]wire.Message{}
	for range len(calls) - 1 { // no reply to the notification
		select {
		case m, ok := <-replies:
			require.True(t, ok, "the conn ended")
			got[m.ID] = m
		case <-time.After(10 * time.Second):
			t.Fatal("replies missing")
		}
	}
	for i, c := range calls {
		m, ok := got[uint32(i+1)]
		switch {
		case c.typ == 2:
			assert.False(t, ok)
		case c.method != "B.Len":
			require.True(t, ok)
			assert.Contains(t, string(m.Error), "unknown method")
		default:
			require.True(t, ok, "call %d", i)
			require.Nil(t, m.Error, "call %d: %s", i, m.Error)
			var n int
			require.NoError(t, msgpack.Unmarshal(m.Result, &n))
			assert.Equal(t, c.n, n, "call %d", i)
		}
	}
	for range len(calls) - 1 { // the notification's handler ran too
		assert.GreaterOrEqual(t, <-ran, 0, "a handler saw bytes it was not sent")
	}
	raw.Close()
	ended(t, srv, budget)
}

// TestDirectArgsRefused: a large bin call past the budget is refused
// before its body is allocated, its body is skipped, and the conn goes on.
func TestDirectArgsRefused(t *testing.T) {
	budget := transport.NewBudget(1<<20, nil)
	srv, raw, replies, ran := directPeer(t, budget, 20*time.Second) // no stall here
	go func() {
		_, _ = raw.Write(rawRequest(0, 1, "B.Len", true, 1<<20-1, bodyOf(1<<20-1), []byte{0x80}))
		_, _ = raw.Write(rawRequest(0, 2, "B.Len", true, 100<<10, bodyOf(100<<10), nil))
	}()
	m := <-replies
	assert.Equal(t, uint32(1), m.ID)
	assert.Contains(t, string(m.Error), "budget")
	m = <-replies
	assert.Equal(t, uint32(2), m.ID)
	assert.Nil(t, m.Error)
	assert.Equal(t, 100<<10, <-ran)
	raw.Close()
	ended(t, srv, budget)
}

// replier answers every request it reads on conn with what answer makes
// of its id; it closes conn after the first answer when once.
func replier(conn net.Conn, once bool, answer func(id uint32) []byte) {
	go func() {
		defer conn.Close()
		rd := wire.NewReader(conn, wire.DefaultLimits)
		for {
			b, err := rd.Next()
			if err != nil {
				return
			}
			m, err := wire.Parse(b)
			if err != nil {
				return
			}
			if _, err := conn.Write(answer(m.ID)); err != nil || once {
				return
			}
		}
	}()
}

// binResponse is a response to id whose bin result declares declared
// bytes and carries body, followed by ext when not nil.
func binResponse(id uint32, declared int, body, ext []byte) []byte {
	b := []byte{0x94, 0x01}
	if ext != nil {
		b[0] = 0x95
	}
	b = binary.BigEndian.AppendUint32(append(b, 0xce), id)
	b = binary.BigEndian.AppendUint32(append(b, 0xc0, 0xc6), uint32(declared))
	b = append(b, body...)
	if len(body) == declared {
		b = append(b, ext...)
	}
	return b
}

// namedBytes is a byte slice of another type: not read in place.
type namedBytes []byte

// TestDirectReplyHostile: a peer's large bin result cut short, past the
// size limit, for an id never sent, or followed by extensions, into every
// kind of reply: the call gets the bytes sent or an error, never bytes
// that were not sent (a failed call's reply keeps its length; an array
// lent in place may hold what was read), and the conn gives back every
// charge.
func TestDirectReplyHostile(t *testing.T) {
	lim := wire.Limits{MaxMessage: 2 << 20, MaxDepth: wire.DefaultLimits.MaxDepth}
	max := lim.MaxMessage
	exact := max - len(binResponse(1, 0, nil, []byte{0x80}))
	for _, c := range []struct {
		name     string
		declared int
		sent     int
		ext      []byte
		stranger bool // first a response to an id never sent
		fails    bool
	}{
		{name: "64 KiB", declared: 64 << 10, sent: 64 << 10},
		{name: "64 KiB-1", declared: 64<<10 - 1, sent: 64<<10 - 1},
		{name: "1 MiB-1 with extensions", declared: 1<<20 - 1, sent: 1<<20 - 1, ext: []byte{0x81, 0xa1, 'k', 0xa1, 'v'}},
		{name: "the size limit exactly", declared: exact, sent: exact, ext: []byte{0x80}},
		{name: "after one to an id never sent", declared: 255 << 10, sent: 255 << 10, stranger: true},
		{name: "cut short in the body", declared: 255 << 10, sent: 100 << 10, fails: true},
		{name: "cut short in the extensions", declared: 255 << 10, sent: 255 << 10, ext: []byte{0x81}, fails: true},
		{name: "extensions past the size limit", declared: exact + 1, sent: exact + 1, ext: []byte{0x80}, fails: true},
		{name: "past the size limit", declared: exact + 2, sent: 1000, ext: []byte{0x80}, fails: true},
	} {
		for _, kind := range []string{"new", "in place", "in place, cancelable", "nil", "named", "string"} {
			t.Run(c.name+"/"+kind, func(t *testing.T) {
				a, b := announcedPipe()
				budget := transport.NewBudget(64<<20, nil)
				cli := New(b, Options{Budget: budget, StallTimeout: time.Second, Limits: lim})
				cli.Start()
				defer func() {
					cli.Close()
					<-cli.readDone
					assert.Equal(t, int64(0), budget.Used(), "charges left")
				}()
				replier(a, c.fails, func(id uint32) []byte {
					out := binResponse(id, c.declared, bodyOf(c.sent), c.ext)
					if c.stranger {
						out = append(binResponse(id+100, c.declared, bodyOf(c.declared), nil), out...)
					}
					return out
				})
				ctx := context.Background()
				var reply, got any
				switch kind {
				case "new":
					var r []byte
					reply, got = &r, func() []byte { return r }
				case "in place", "in place, cancelable":
					r := make([]byte, 3, max)
					copy(r, "abc")
					reply, got = &r, func() []byte { return r }
					if kind == "in place, cancelable" {
						var cancel context.CancelFunc
						ctx, cancel = context.WithTimeout(ctx, time.Minute)
						defer cancel()
					}
				case "nil":
				case "named":
					var r namedBytes
					reply, got = &r, func() []byte { return r }
				case "string":
					var r string
					reply, got = &r, func() []byte { return []byte(r) }
				}
				err := cli.Call(ctx, "M", []byte("x"), reply)
				if c.fails {
					require.Error(t, err)
					if got != nil {
						r := got.(func() []byte)()
						if kind == "in place" || kind == "in place, cancelable" {
							assert.Len(t, r, 3, "the reply changed") // its array may hold what was read
						} else {
							assert.Empty(t, r)
						}
					}
					return
				}
				require.NoError(t, err)
				if got != nil {
					r := got.(func() []byte)()
					assert.Equal(t, c.declared, len(r))
					assert.True(t, bytes.Equal(bodyOf(c.declared), r), "the reply holds bytes that were not sent")
				}
			})
		}
	}
}

// announced is a conn that reports every body as arrived, as a session
// stream does once the frames carrying it are announced (Buffered): the
// direct path is taken whenever it applies.
type announced struct{ net.Conn }

func (announced) Buffered() int { return 1 << 30 }

func announcedPipe() (net.Conn, net.Conn) {
	a, b := net.Pipe()
	return announced{a}, announced{b}
}

// TestDirectWaitsForArrival: a head declaring a large body of which little
// has arrived takes the whole-message path, whose buffer grows with what
// arrives: the peer cannot make us allocate, nor charge, the declared
// length by sending a head. Once the body arrives, the call is served.
func TestDirectWaitsForArrival(t *testing.T) {
	const size = 4<<20 - 64
	budget := transport.NewBudget(64<<20, nil)
	r := registry.New()
	ran := make(chan int, 1)
	require.NoError(t, r.Add(registry.Typed("B.Len", func(_ context.Context, p *[]byte) (*int, error) {
		n := len(*p)
		ran <- n
		return &n, nil
	})))
	a, b := net.Pipe() // reports nothing buffered
	srv := New(a, Options{Registry: r, Budget: budget, StallTimeout: 5 * time.Second, FerryPeer: true})
	srv.Start()
	go func() { _, _ = io.Copy(io.Discard, b) }()
	msg := rawRequest(0, 1, "B.Len", true, size, bodyOf(size), nil)
	head := msg[:len(msg)-size+1024]
	_, err := b.Write(head)
	require.NoError(t, err)
	// The reader has taken the head and 1 KiB of the body.
	assert.Never(t, func() bool { return budget.Used() > 64<<10 }, 200*time.Millisecond, 5*time.Millisecond,
		"charged ahead of what arrived")
	_, err = b.Write(msg[len(head):])
	require.NoError(t, err)
	assert.Equal(t, size, <-ran)
	b.Close()
	ended(t, srv, budget)
}
