package e2e_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// The tests in this file push arguments and stream messages of every size
// class from a raw session (yamux frames and MessagePack built by hand) at
// the two decode charges: arguments and stream messages whose type holds
// maps or interfaces are charged perItem (192) bytes for each array or
// map element the framing scanner counted (registry.DecodeCost,
// DecodeCostOf). Legitimate shapes (a large []byte or string beside a
// small map) are served; bombs (one-entry maps, small numbers in an
// []any) past the budget are refused with resource_exhausted, never
// decoded, and the connection goes on.

// chargeClass is one size class: the encoded size of each request or
// stream message, and the server-wide budget the class is tried under
// (0: the default) with the largest message it allows (0: the default;
// a server-wide budget is at least 2 × that + 1 MiB). Under a budget that
// small (1.25 MiB) a 1 KiB bomb still fits (about 114 KiB charged for
// one of one-entry maps: 192 bytes for each map and each entry; 192 KiB
// for one of numbers in an []any: 192 bytes an element), so that class
// leaves only 55–106 KiB of the budget free with held calls: the bomb no
// longer fits, the legitimate message (30–40 KiB) does.
type chargeClass struct {
	name   string
	size   int
	budget int64
	maxMsg int
	free   int64 // hold calls until about this much of the budget is left
}

var chargeClasses = []chargeClass{
	{"1KiB", 1 << 10, 1<<20 + 256<<10, 128 << 10, 55 << 10},
	{"64KiB", 64 << 10, 4 << 20, 1 << 20, 0},
	{"just under the stream window", 1<<20 - 1<<10, 0, 0, 0},
	{"max message", 4<<20 - 64, 0, 0, 0},
}

// chargeSession is a raw session: stream 1 is its call stream; it tracks
// the send window the server grants on each stream and buffers what the
// server sends on each.
type chargeSession struct {
	t      *testing.T
	c      *rawConn
	credit map[uint32]int64
	in     map[uint32][]byte
	closed map[uint32]bool // the server closed its side (FIN or RST)
	next   uint32          // the next stream id to open
}

// dialCharge starts a raw session to addr and says hello on stream 1.
func dialCharge(t *testing.T, addr string) *chargeSession {
	t.Helper()
	s := &chargeSession{t: t, c: dialRaw(t, addr), credit: map[uint32]int64{}, in: map[uint32][]byte{}, closed: map[uint32]bool{}, next: 1}
	call := s.open()
	s.send(call, helloFrame)
	r := parseResponse(t, s.read(call))
	require.Nil(t, r.err)
	return s
}

// open opens a stream: yamux's 256 KiB until the server's accept raises it.
func (s *chargeSession) open() uint32 {
	id := s.next
	s.next += 2
	s.credit[id] = 256 << 10
	s.c.write(yamuxFrame(1, 1, id, 0))
	return id
}

// frame handles the next frame from the server.
func (s *chargeSession) frame() {
	s.t.Helper()
	f, length, err := gapFrame(s.c, 10*time.Second)
	require.NoError(s.t, err)
	switch {
	case f.typ == 2 && f.flags&1 != 0:
		s.c.write(yamuxFrame(2, 2, 0, length))
	case f.typ == 3:
		s.t.Fatalf("the server ended the session (go-away %d)", length)
	case f.typ == 1 || f.typ == 0:
		if f.typ == 1 {
			s.credit[f.stream] += int64(length)
		}
		s.in[f.stream] = append(s.in[f.stream], f.data...)
		if f.flags&(4|8) != 0 {
			s.closed[f.stream] = true
		}
		if n := len(f.data); n > 0 { // give the window back at once
			s.c.write(yamuxFrame(1, 0, f.stream, uint32(n)))
		}
	}
}

// send writes b on stream id within the window the server grants.
func (s *chargeSession) send(id uint32, b []byte) {
	s.t.Helper()
	for range 100_000 {
		if len(b) == 0 {
			return
		}
		for range 10_000 {
			if s.credit[id] > 0 {
				break
			}
			s.frame()
		}
		k := min(int(s.credit[id]), len(b), 256<<10)
		s.c.write(yamuxFrame(0, 0, id, uint32(k)), b[:k])
		s.credit[id] -= int64(k)
		b = b[k:]
	}
	s.t.Fatal("not sent within 100,000 frames")
}

// read returns the next message on stream id.
func (s *chargeSession) read(id uint32) []any {
	s.t.Helper()
	for range 100_000 {
		var raw msgpack.RawMessage
		r := bytes.NewReader(s.in[id])
		err := msgpack.NewDecoder(r).Decode(&raw)
		if err == nil {
			s.in[id] = s.in[id][len(s.in[id])-r.Len():]
			var m []any
			require.NoError(s.t, msgpack.Unmarshal(raw, &m))
			return m
		}
		require.False(s.t, s.closed[id], "stream %d closed: %v", id, err)
		s.frame()
	}
	s.t.Fatal("no message within 100,000 frames")
	return nil
}

// call sends a request on the call stream and returns its response.
func (s *chargeSession) call(req []byte) response {
	s.t.Helper()
	s.send(1, req)
	return parseResponse(s.t, s.read(1))
}

// Hand-built MessagePack.

// mpStr, mpBin and mpArray encode a str, a bin of n fill bytes and an
// array32 header.
func mpStr(s string) []byte {
	if len(s) < 32 {
		return append([]byte{0xa0 | byte(len(s))}, s...)
	}
	return append(binary.BigEndian.AppendUint32([]byte{0xdb}, uint32(len(s))), s...)
}

func mpBin(n int, fill byte) []byte {
	return append(binary.BigEndian.AppendUint32([]byte{0xc6}, uint32(n)), bytes.Repeat([]byte{fill}, n)...)
}

func mpArray(n int) []byte { return binary.BigEndian.AppendUint32([]byte{0xdd}, uint32(n)) }

// chargeRequest is [0, id, method, params, {}] with params already encoded.
func chargeRequest(id uint32, method string, params []byte) []byte {
	b := binary.BigEndian.AppendUint32([]byte{0x95, 0x00, 0xce}, id)
	b = append(append(b, mpStr(method)...), params...)
	return append(b, 0x80)
}

var smallMeta = []byte{0x82, 0xa1, 'a', 0xa1, '1', 0xa1, 'b', 0xa1, '2'}

// putParams fills a request to Blob.Put to size bytes: ["k", {a:1, b:2},
// bin] or, with text, ["k", {a:1, b:2}, nil, str].
// It returns the params and the length of the bin or str.
func putParams(size int, text bool) ([]byte, int) {
	head := append([]byte{0x94, 0xa1, 'k'}, smallMeta...)
	n := size - len(chargeRequest(0, "Blob.Put", nil)) - len(head) - 6
	if text {
		return append(append(head, 0xc0), mpStr(string(bytes.Repeat([]byte{'t'}, n)))...), n
	}
	return append(append(head, mpBin(n, 'b')...), 0xc0), n
}

// mapsBomb is ["k", [{a: ""} ...]] filling size bytes for Blob.Many:
// four bytes, three elements, each map.
func mapsBomb(size int) ([]byte, int) {
	n := (size - len(chargeRequest(0, "Blob.Many", nil)) - 3 - 5) / 4
	b := append([]byte{0x92, 0xa1, 'k'}, mpArray(n)...)
	return append(b, bytes.Repeat([]byte{0x81, 0xa1, 'a', 0xa0}, n)...), n
}

// numsBomb is [[1, 1, ...]] filling size bytes for Blob.Nums ([]any): one
// byte, one element, each number.
func numsBomb(size int) ([]byte, int) {
	n := size - len(chargeRequest(0, "Blob.Nums", nil)) - 1 - 5
	return append(append([]byte{0x91}, mpArray(n)...), bytes.Repeat([]byte{0x01}, n)...), n
}

type chargeBlob struct {
	Key  string
	Meta map[string]string
	Data []byte
	Text string
}

type chargeMany struct {
	Key   string
	Metas []map[string]string
}

// chargeMsg is Blob.Upload's message. (An []any field beside Data would
// make every byte of it count 16: the factor of a slice of interfaces.)
type chargeMsg struct {
	Metas []map[string]string
	Data  []byte
	Text  string
}

// uploader is a client-streaming handler that counts the messages it
// got in runs and returns the sum of size over them.
func uploader[M any](runs *atomic.Int64, size func(*M) int) func(context.Context, func() (*M, error)) (*int, error) {
	return func(_ context.Context, recv func() (*M, error)) (*int, error) {
		n := 0
		for range 1000 {
			m, err := recv()
			if err == io.EOF {
				return &n, nil
			}
			if err != nil {
				return nil, err
			}
			runs.Add(1)
			n += size(m)
		}
		return &n, nil
	}
}

// chargeServer serves Blob.Put, Blob.Many and Blob.Nums (counting the
// calls that ran in runs) and Blob.Hold (blocks until release is closed)
// under cl's budget and largest message.
func chargeServer(t *testing.T, cl chargeClass, runs *atomic.Int64, held chan<- struct{}, release <-chan struct{}) *server.Server {
	var opts []server.Option
	if cl.budget > 0 {
		opts = append(opts, server.WithMemoryBudget(cl.budget))
	}
	if cl.maxMsg > 0 {
		cfg := transport.DefaultConfig()
		cfg.MaxMessageSize = cl.maxMsg
		opts = append(opts, server.WithConfig(cfg))
	}
	s := newServer(t, opts...)
	require.NoError(t, server.Handle(s, "Blob.Put", func(_ context.Context, b *chargeBlob) (*int, error) {
		runs.Add(1)
		n := len(b.Data) + len(b.Text) + len(b.Meta)
		return &n, nil
	}))
	require.NoError(t, server.Handle(s, "Blob.Many", func(_ context.Context, m *chargeMany) (*int, error) {
		runs.Add(1)
		n := len(m.Metas)
		return &n, nil
	}))
	require.NoError(t, server.Handle(s, "Blob.Nums", func(_ context.Context, a *[]any) (*int, error) {
		runs.Add(1)
		n := len(*a)
		return &n, nil
	}))
	require.NoError(t, server.HandleClientStream(s, "Blob.Upload", uploader(runs, func(m *chargeMsg) int {
		return len(m.Metas) + len(m.Data) + len(m.Text)
	})))
	require.NoError(t, server.HandleClientStream(s, "Blob.UploadAny", uploader(runs, func(m *[]any) int { return len(*m) })))
	require.NoError(t, server.Handle(s, "Blob.Hold", func(_ context.Context, p *[]byte) (*int, error) {
		held <- struct{}{}
		<-release
		n := len(*p)
		return &n, nil
	}))
	return s
}

// holdUntilFree makes calls that hold part of the budget (a 64 KiB call
// holds about 144 KiB: its bytes, charged twice as a []byte's decoded
// size, and its goroutine; a 16 KiB one about 51 KiB) until between free
// and free + 51 KiB of it are left, and returns what is left. While a
// call's arguments are charged, its bytes may still be held by the
// session too (twice, as they arrived): a 64 KiB call needs about 272 KiB
// free to be admitted, a 16 KiB one about 80 KiB.
func holdUntilFree(t *testing.T, s *server.Server, budget, free int64, held <-chan struct{}) int64 {
	t.Helper()
	c := dialTCP(t, s)
	left := settledUse(t, s, budget)
	for range 100 {
		var size int
		switch {
		case left >= free+300<<10:
			size = 64 << 10
		case left >= free+51<<10:
			size = 16 << 10
		default:
			return left
		}
		call := c.Go(t.Context(), "Blob.Hold", make([]byte, size), new(int))
		select {
		case <-held:
		case <-call.Done():
			require.NoError(t, call.Err(), "with %d bytes of the budget left", left)
			t.Fatal("a held call returned")
		}
		left = settledUse(t, s, budget)
	}
	return left
}

// settledUse returns what is left of budget once the connections' use
// has stayed the same for 20 ms (what arrived has been decoded).
func settledUse(t *testing.T, s *server.Server, budget int64) int64 {
	t.Helper()
	var last atomic.Int64
	var same atomic.Int64
	require.Eventually(t, func() bool {
		u := memoryInUse(s)
		if last.Swap(u) == u {
			return same.Add(1) >= 20
		}
		same.Store(0)
		return false
	}, 5*time.Second, time.Millisecond)
	return budget - last.Load()
}

// watchPeak samples the memory s's connections hold, every millisecond
// (for at most 100 s), until stop is called; peak returns the most seen.
func watchPeak(s *server.Server) (peak func() int64, stop func()) {
	var most atomic.Int64
	done := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for range 100_000 {
			raise(&most, memoryInUse(s))
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	return most.Load, func() { close(done); <-watched }
}

// heapSampler records the peak of the heap's objects (live, and dead ones
// not yet swept) while it runs, every 2 ms.
type heapSampler struct {
	peak atomic.Int64
	stop chan struct{}
	done chan struct{}
}

func sampleHeap() *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		defer close(h.done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for range 30_000 { // a minute at most
			metrics.Read(sample)
			raise(&h.peak, int64(sample[0].Value.Uint64()))
			select {
			case <-h.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) end() int64 {
	close(h.stop)
	<-h.done
	return h.peak.Load()
}

// refused asserts that r is resource_exhausted, not executed.
func refused(t *testing.T, r response, what string) {
	t.Helper()
	assert.Equal(t, uint64(8), r.code(), "%s: resource_exhausted: %v", what, r.err)
	assert.Equal(t, true, r.ext["n"], "%s: not executed", what)
}

// TestChargeClassesUnary: in every size class, a []byte or a string
// beside a small map is served, while one-entry maps or small numbers in
// an []any of the same size, whose elements are charged past the budget,
// are refused with resource_exhausted and "n": true before their handler
// runs (the framing scanner counted their elements; they are never
// decoded), and the session goes on serving. The budget in use stays
// within the budget and one message, and the live heap grows by no more
// than what the budget holds and a few messages.
func TestChargeClassesUnary(t *testing.T) {
	for _, cl := range chargeClasses {
		t.Run(cl.name, func(t *testing.T) {
			var runs atomic.Int64
			held := make(chan struct{}, 100)
			release := make(chan struct{})
			s := chargeServer(t, cl, &runs, held, release)
			defer close(release)
			budget := cl.budget
			if budget == 0 {
				budget = 64 << 20 // the connection's, below the server's 128 MiB
			}
			legitB, n := putParams(cl.size, false)
			legitS, _ := putParams(cl.size, true)
			maps, nmaps := mapsBomb(cl.size)
			nums, nnums := numsBomb(cl.size)
			_, h0 := settle()
			ws := dialCharge(t, listen(t, s))
			if cl.free > 0 {
				left := holdUntilFree(t, s, budget, cl.free, held)
				t.Logf("held calls leave %d KiB of the %d KiB budget", left>>10, budget>>10)
				require.Less(t, left, int64(110<<10), "a 1 KiB bomb (at least 114 KiB) must not fit")
				require.Greater(t, left, int64(50<<10), "a 1 KiB legitimate call (about 30 KiB) must fit")
			}
			peak, stopPeak := watchPeak(s)
			heap := sampleHeap()

			id := uint32(10)
			for i, req := range [][]byte{legitB, legitS, legitB} {
				id++
				msg := chargeRequest(id, "Blob.Put", req)
				require.LessOrEqual(t, len(msg), cl.size)
				r := ws.call(msg)
				require.Nil(t, r.err, "legitimate %d", i)
				assert.EqualValues(t, n+2, r.result, "a %d-byte request served", len(msg))
			}
			ranBefore := runs.Load()
			for _, b := range []struct {
				method string
				params []byte
				n      int
			}{{"Blob.Many", maps, nmaps}, {"Blob.Nums", nums, nnums}} {
				id++
				msg := chargeRequest(id, b.method, b.params)
				r := ws.call(msg)
				refused(t, r, b.method)
				t.Logf("%s: %d bytes, %d elements: %v", b.method, len(msg), b.n, r.err)
				// The session goes on: a legitimate call right after.
				id++
				r = ws.call(chargeRequest(id, "Blob.Put", legitB))
				require.Nil(t, r.err, "after the %s bomb", b.method)
			}
			assert.Equal(t, ranBefore+2, runs.Load(), "no bomb's handler ran")
			grew := heap.end() - int64(h0)
			stopPeak()
			t.Logf("budget in use at most %d KiB of %d KiB; live heap up to %+.1f MiB", peak()>>10, budget>>10, float64(grew)/(1<<20))
			assert.LessOrEqual(t, peak(), budget+int64(cl.size), "the budget and one message")
			assert.Less(t, grew, 2*peak()+int64(8*cl.size)+16<<20, "what the budget held, a few messages: never decoded, a bomb would take %d MiB", int64(nmaps)*350>>20)
		})
	}
}

// status reads the final status on stream id (a client-streaming
// method's server sends nothing before it), and closes this side.
func (s *chargeSession) status(id uint32) response {
	s.t.Helper()
	m := s.read(id)
	s.c.write(yamuxFrame(1, 4, id, 0))
	return parseResponse(s.t, m)
}

// streamMsg is the frame [3, payload] of size bytes for Blob.Upload: a
// bin or a str beside a one-entry map (legitimate), or a bomb of
// one-entry maps or of small numbers. It returns the frame and the
// payload's elements (legitimate: the bytes).
func streamMsg(size int, kind string) ([]byte, int) {
	b := []byte{0x92, 0x03}
	switch kind {
	case "bin", "str":
		b = append(b, 0x82)
		b = append(append(b, mpStr("Metas")...), 0x91, 0x81, 0xa1, 'a', 0xa1, '1')
		n := size - len(b) - 5 - 5
		if kind == "bin" {
			return append(append(b, mpStr("Data")...), mpBin(n, 'b')...), n
		}
		return append(append(b, mpStr("Text")...), mpStr(string(bytes.Repeat([]byte{'t'}, n)))...), n
	case "maps":
		b = append(append(b, 0x81), mpStr("Metas")...)
		n := (size - len(b) - 5) / 4
		return append(append(b, mpArray(n)...), bytes.Repeat([]byte{0x81, 0xa1, 'a', 0xa0}, n)...), n
	default: // "nums", for Blob.UploadAny
		n := size - len(b) - 5
		return append(append(b, mpArray(n)...), bytes.Repeat([]byte{0x01}, n)...), n
	}
}

// TestChargeClassesStream: in every size class, a served stream's
// messages are charged while decoded, as a call's arguments are: a
// []byte or a string beside a small map reaches the handler, while a
// message of one-entry maps or of small numbers in an []any whose
// elements are charged past the budget is refused (the handler's Recv
// fails with resource_exhausted, which becomes the stream's status, and
// the handler never sees the message), and the session goes on: a new
// stream and a unary call are served. The budget in use stays within the
// budget and one message, and the live heap grows by no more than what
// the budget holds and a few messages.
func TestChargeClassesStream(t *testing.T) {
	open := append([]byte{0xc1}, request(0, "Blob.Upload", []any{}, map[string]any{})...)
	for _, cl := range chargeClasses {
		t.Run(cl.name, func(t *testing.T) {
			var runs atomic.Int64
			held := make(chan struct{}, 100)
			release := make(chan struct{})
			s := chargeServer(t, cl, &runs, held, release)
			defer close(release)
			budget := cl.budget
			if budget == 0 {
				budget = 64 << 20
			}
			legitB, n := streamMsg(cl.size, "bin")
			legitS, _ := streamMsg(cl.size, "str")
			maps, nmaps := streamMsg(cl.size, "maps")
			nums, nnums := streamMsg(cl.size, "nums")
			_, h0 := settle()
			ws := dialCharge(t, listen(t, s))
			if cl.free > 0 {
				left := holdUntilFree(t, s, budget, cl.free, held)
				t.Logf("held calls leave %d KiB of the %d KiB budget", left>>10, budget>>10)
				require.Less(t, left, int64(110<<10), "a 1 KiB bomb (at least 114 KiB) must not fit")
				require.Greater(t, left, int64(50<<10), "a 1 KiB legitimate message (about 40 KiB with its stream) must fit")
			}
			peak, stopPeak := watchPeak(s)
			heap := sampleHeap()

			for _, b := range []struct {
				kind   string
				method string
				first  []byte
				msg    []byte
				elems  int
			}{{"maps", "Blob.Upload", legitB, maps, nmaps}, {"nums", "Blob.UploadAny", enc([]any{3, []any{1, 2, 3}}), nums, nnums}} {
				before := runs.Load()
				id := ws.open()
				ws.send(id, append([]byte{0xc1}, request(0, b.method, []any{}, map[string]any{})...))
				ws.send(id, b.first)
				ws.send(id, b.msg)
				r := ws.status(id)
				assert.Equal(t, uint64(8), r.code(), "%s: resource_exhausted: %v", b.kind, r.err)
				t.Logf("%s: a %d-byte message, %d elements: %v", b.kind, len(b.msg), b.elems, r.err)
				assert.Equal(t, before+1, runs.Load(), "%s: the handler got the legitimate message, not the bomb", b.kind)
				// The session goes on.
				u := ws.call(chargeRequest(100+id, "Arith.Add", []byte{0x92, 0x03, 0x04}))
				assert.EqualValues(t, 7, u.result, "%s: a unary call after the refusal", b.kind)
			}
			id := ws.open()
			ws.send(id, open)
			ws.send(id, legitB)
			ws.send(id, legitS)
			ws.send(id, closeSend)
			r := ws.status(id)
			require.Nil(t, r.err)
			assert.EqualValues(t, 2*(n+1), r.result, "both legitimate messages of %d bytes served", len(legitB))

			grew := heap.end() - int64(h0)
			stopPeak()
			t.Logf("budget in use at most %d KiB of %d KiB; live heap up to %+.1f MiB", peak()>>10, budget>>10, float64(grew)/(1<<20))
			assert.LessOrEqual(t, peak(), budget+int64(cl.size), "the budget and one message")
			assert.Less(t, grew, 2*peak()+int64(8*cl.size)+16<<20, "what the budget held, a few messages: never decoded, a bomb would take %d MiB", int64(nmaps)*350>>20)
		})
	}
}
