package wire

import (
	"math"
	"sync"
	"testing"

	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// v17Map encodes a map of one str key to the encoded value val.
func v17Map(key string, val []byte) []byte {
	return append(msgpack.AppendString(msgpack.AppendMapHeader(nil, 1), key), val...)
}

// TestVlimits17HelloMax: a hello's "max" is taken only as a non-negative
// integer of any width; anything else, and a map that is not one with str
// keys, is as if absent (0).
func TestVlimits17HelloMax(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		want uint64
	}{
		{"fixint", v17Map("max", []byte{0x7f}), 127},
		{"uint16", v17Map("max", []byte{0xcd, 0x04, 0x00}), 1024},
		{"uint64 max", v17Map("max", []byte{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), math.MaxUint64},
		{"positive int32", v17Map("max", []byte{0xd2, 0x00, 0x01, 0x00, 0x00}), 65536},
		{"negative fixint", v17Map("max", []byte{0xff}), 0},
		{"negative int64", v17Map("max", []byte{0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0}), 0},
		{"float64", v17Map("max", []byte{0xcb, 0x40, 0x90, 0, 0, 0, 0, 0, 0}), 0},
		{"str", v17Map("max", []byte{0xa1, '5'}), 0},
		{"nil", v17Map("max", []byte{0xc0}), 0},
		{"true", v17Map("max", []byte{0xc3}), 0},
		{"array", v17Map("max", []byte{0x91, 0x05}), 0},
		{"map", v17Map("max", []byte{0x81, 0xa1, 'a', 0x05}), 0},
		{"ext", v17Map("max", []byte{0xd4, 0x01, 0x05}), 0},
		{"other key", v17Map("maxx", []byte{0x05}), 0},
		{"empty map", []byte{0x80}, 0},
		{"nil map", []byte{0xc0}, 0},
		{"not a map", []byte{0x92, 0x05, 0x05}, 0},
		{"int key after it", append(append(msgpack.AppendMapHeader(nil, 2), msgpack.AppendString(nil, "max")...), 0x05, 0x01, 0x02), 0},
		{"the last of two", append(append(append(msgpack.AppendMapHeader(nil, 2), msgpack.AppendString(nil, "max")...), 0x05), append(msgpack.AppendString(nil, "max"), 0x07)...), 7},
	} {
		assert.Equal(t, tc.want, HelloMax(tc.b), tc.name)
	}
}

// TestVlimits17PeerMaxLearn: the peer's limit is only ever lowered; 0 and
// values past any int change nothing; values below MinMaxMessage are
// taken as MinMaxMessage; SendMax is the smaller of the two limits.
func TestVlimits17PeerMaxLearn(t *testing.T) {
	var p PeerMax
	lim := Limits{MaxMessage: 1 << 20, Peer: &p}
	max, peers := lim.SendMax()
	assert.Equal(t, 1<<20, max)
	assert.False(t, peers)
	for _, n := range []uint64{0, math.MaxUint64, 1 << 63} {
		p.Learn(n)
		assert.Equal(t, 0, p.Max(), "%d", n)
	}
	p.Learn(2 << 20)
	max, peers = lim.SendMax()
	assert.Equal(t, 1<<20, max, "a peer's limit above our own changes nothing")
	assert.False(t, peers)
	p.Learn(64 << 10)
	p.Learn(128 << 10)
	max, peers = lim.SendMax()
	assert.Equal(t, 64<<10, max, "never raised")
	assert.True(t, peers)
	p.Learn(1)
	assert.Equal(t, MinMaxMessage, p.Max())
	var nilPeer *PeerMax
	nilPeer.Learn(5)
	nilPeer.Settle()
	assert.True(t, nilPeer.Settled())
	assert.Equal(t, 0, nilPeer.Max())
}

// TestVlimits17PeerMaxAwait: Await returns at once once settled, waits
// until Settle otherwise, and returns false when done closes first.
func TestVlimits17PeerMaxAwait(t *testing.T) {
	var p PeerMax
	done := make(chan struct{})
	close(done)
	assert.False(t, p.Await(done))
	var wg sync.WaitGroup
	got := make(chan bool, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got <- p.Await(nil)
		}()
	}
	select {
	case <-got:
		t.Fatal("Await returned before Settle")
	default:
	}
	p.Settle()
	p.Settle()
	wg.Wait()
	for range 8 {
		require.True(t, <-got)
	}
	assert.True(t, p.Await(nil))
}
