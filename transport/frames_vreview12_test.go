package transport

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// frameSizes records the largest data frame body written through it.
type frameSizes struct {
	net.Conn
	mu      sync.Mutex
	hdr     [12]byte
	hn      int
	body    uint32 // body bytes still to pass
	largest uint32
}

func (f *frameSizes) Write(p []byte) (int, error) {
	f.mu.Lock()
	for b := p; len(b) > 0; {
		if f.body > 0 {
			k := min(uint32(len(b)), f.body)
			f.body -= k
			b = b[k:]
			continue
		}
		k := copy(f.hdr[f.hn:], b)
		f.hn += k
		b = b[k:]
		if f.hn == len(f.hdr) {
			f.hn = 0
			if f.hdr[1] == 0 { // a data frame
				f.body = binary.BigEndian.Uint32(f.hdr[8:])
				f.largest = max(f.largest, f.body)
			}
		}
	}
	f.mu.Unlock()
	return f.Conn.Write(p)
}

// TestVreview12WritesInWholePieces: a peer that grants a 4 MiB window
// gets frames of at most 1 MiB (maxFrameBody), and two goroutines
// writing 3 MiB each to one stream at once deliver each write whole,
// never pieces of one between pieces of the other (Stream.wmu).
func TestVreview12WritesInWholePieces(t *testing.T) {
	defer goleak.VerifyNone(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	cfg := DefaultConfig()
	cfg.KeepAliveInterval = 0
	cfg.StreamWindow = 4 << 20
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	raw, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	fs := &frameSizes{Conn: raw}
	cs, err := Client(fs, cfg)
	require.NoError(t, err)
	defer cs.Close()
	var sc net.Conn
	select {
	case sc = <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("no connection")
	}
	ss, err := Server(sc, cfg)
	require.NoError(t, err)
	defer ss.Close()

	st, err := cs.Open(t.Context())
	require.NoError(t, err)
	const size = 3 << 20
	var wg sync.WaitGroup
	for _, c := range []byte{'a', 'b'} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = st.SetWriteDeadline(time.Now().Add(10 * time.Second))
			n, err := st.Write(bytes.Repeat([]byte{c}, size))
			assert.NoError(t, err)
			assert.Equal(t, size, n)
		}()
	}
	rs, err := ss.Accept()
	require.NoError(t, err)
	_ = rs.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, 2*size)
	_, err = io.ReadFull(rs, got)
	require.NoError(t, err)
	wg.Wait()
	first, second := got[:size], got[size:]
	require.NotEqual(t, first[0], second[0])
	assert.Equal(t, -1, bytes.IndexByte(first, second[0]), "the first write whole")
	assert.Equal(t, -1, bytes.IndexByte(second, first[0]), "the second write whole")
	fs.mu.Lock()
	largest := fs.largest
	fs.mu.Unlock()
	assert.LessOrEqual(t, largest, uint32(maxFrameBody))
	assert.Greater(t, largest, uint32(maxFrameBody/2), "frames as large as the bound")
	require.NoError(t, st.Close())
	require.NoError(t, rs.Close())
}
