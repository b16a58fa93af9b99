package transport

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// rawPeer is the accepting end of a client session, played by the test:
// it drains what the client sends, reporting the streams it opens and
// the answers to pings.
type rawPeer struct {
	net.Conn
	syns  chan uint32
	pongs chan struct{}
}

func newRawPeer(t *testing.T) (*Session, *rawPeer) {
	t.Helper()
	a, b := net.Pipe()
	p := &rawPeer{Conn: b, syns: make(chan uint32, 16), pongs: make(chan struct{}, 16)}
	go func() {
		var h [12]byte
		for {
			if _, err := io.ReadFull(b, h[:]); err != nil {
				return
			}
			flags, id := binary.BigEndian.Uint16(h[2:]), binary.BigEndian.Uint32(h[4:])
			switch {
			case h[1] == 0:
				if _, err := io.CopyN(io.Discard, b, int64(binary.BigEndian.Uint32(h[8:]))); err != nil {
					return
				}
			case h[1] == 2 && flags&2 != 0:
				p.pongs <- struct{}{}
			}
			if h[1] <= 1 && flags&flagSYN != 0 {
				p.syns <- id
			}
		}
	}()
	cfg := DefaultConfig()
	cfg.KeepAliveInterval = 0
	cs, err := Client(a, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		cs.Close()
		b.Close()
	})
	return cs, p
}

// send writes frames to the client, then a ping, and returns once the
// client answered it: it has handled every frame before.
func (p *rawPeer) send(t *testing.T, b ...[]byte) {
	t.Helper()
	for _, f := range b {
		_, err := p.Write(f)
		require.NoError(t, err)
	}
	_, err := p.Write(frame(2, flagSYN, 0, 7))
	require.NoError(t, err)
	select {
	case <-p.pongs:
	case <-time.After(5 * time.Second):
		t.Fatal("no answer to the ping")
	}
}

// opened opens a stream and acknowledges it as the peer.
func (p *rawPeer) opened(t *testing.T, cs *Session) *Stream {
	t.Helper()
	c, err := cs.Open(context.Background())
	require.NoError(t, err)
	select {
	case id := <-p.syns:
		require.Equal(t, uint32(1), id)
	case <-time.After(5 * time.Second):
		t.Fatal("the stream's opening frame did not come")
	}
	p.send(t, frame(1, 2, 1, 0)) // acknowledged
	return c.(*Stream)
}

// data is a data frame of n bytes on stream id.
func data(id uint32, n int) []byte {
	return append(frame(0, 0, id, uint32(n)), make([]byte, n)...)
}

// TestVreview11ForgedResetBeforeOpen: a peer that resets a stream of
// this side's before it is opened (yamux drops the frame: it knows no
// such stream) does not make the stream, once opened, go uncharged:
// what the peer sends on it counts against the budget.
func TestVreview11ForgedResetBeforeOpen(t *testing.T) {
	defer goleak.VerifyNone(t)
	cs, p := newRawPeer(t)
	p.send(t, frame(1, flagRST, 1, 0)) // stream 1, the client's next
	st := p.opened(t, cs)
	const n = 64 << 10
	p.send(t, data(1, n))
	assert.Equal(t, n, st.Buffered(), "held for the stream")
	assert.GreaterOrEqual(t, cs.budget.Used(), int64(slack*n), "charged")
	got, err := io.ReadFull(st, make([]byte, n))
	require.NoError(t, err)
	assert.Equal(t, n, got)
	require.NoError(t, cs.Close())
}

// TestVreview11ForgedCloseBeforeOpen: a peer that closes a stream of
// this side's before it is opened (yamux drops the frame) does not make
// the stream's account end with this side's close while yamux keeps the
// stream open: what the peer sends after that close stays charged.
func TestVreview11ForgedCloseBeforeOpen(t *testing.T) {
	defer goleak.VerifyNone(t)
	cs, p := newRawPeer(t)
	p.send(t, frame(1, flagFIN, 1, 0)) // stream 1, the client's next
	st := p.opened(t, cs)
	require.NoError(t, st.Close())
	const n = 64 << 10
	p.send(t, data(1, n)) // yamux keeps it: the peer never closed the stream
	assert.GreaterOrEqual(t, cs.budget.Used(), int64(slack*n), "what the peer sent after this side's close is charged")
	assert.Equal(t, int32(1), cs.g.acct.count.Load(), "the stream is still accounted for")
	require.NoError(t, cs.Close())
}

// TestVreview11DataBeforeOpenReturns: what the peer sends on a stream
// this side opened before Open has returned is charged, as what it sends
// later is: it was held by yamux uncharged until the stream was read.
func TestVreview11DataBeforeOpenReturns(t *testing.T) {
	defer goleak.VerifyNone(t)
	const n = 64 << 10
	cs, st, _ := answeredBeforeOpenReturns(t, append(frame(1, 2, 1, 0), data(1, n)...))
	assert.Equal(t, n, st.Buffered(), "held for the stream")
	assert.GreaterOrEqual(t, cs.budget.Used(), int64(slack*n), "charged")
	got, err := io.ReadFull(st, make([]byte, n))
	require.NoError(t, err)
	assert.Equal(t, n, got)
	require.NoError(t, st.Close())
	require.NoError(t, cs.Close())
	assert.Equal(t, int64(0), cs.budget.Used(), "released")
}

// TestVreview11DialerRefusesStreamsWithItsIDs: a dialing side refuses a
// stream the peer opens with an odd id, one of its own (as an accepting
// side refuses even ids): nothing was charged for such a stream, whose
// data yamux held, and its id was the one this side opens next.
func TestVreview11DialerRefusesStreamsWithItsIDs(t *testing.T) {
	g := testGuard(false)
	err := g.inspect(append(frame(0, flagSYN, 3, 100), make([]byte, 100)...))
	require.ErrorIs(t, err, ErrHostilePeer)
	assert.Contains(t, err.Error(), "reserved for this side")
	require.NoError(t, testGuard(false).inspect(frame(1, flagSYN, 4, 0)))
}
