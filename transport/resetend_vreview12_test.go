package transport

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestVreview12ResetStreamAfterTheSessionEnded: a stream the peer reset
// (it refused it: going away, or its backlog full) and whose session then
// ended fails a Write with the reset, as its Read does, not with the
// session's end: a streaming call tells a refusal before the first byte
// (not executed) by the reset.
func TestVreview12ResetStreamAfterTheSessionEnded(t *testing.T) {
	defer goleak.VerifyNone(t)
	a, b := net.Pipe()
	cfg := DefaultConfig()
	cfg.KeepAliveInterval = 0
	cs, err := Client(a, cfg)
	require.NoError(t, err)
	defer cs.Close()
	opened := make(chan uint32, 1)
	go func() {
		var hdr [12]byte
		if _, err := io.ReadFull(b, hdr[:]); err != nil {
			return
		}
		opened <- binary.BigEndian.Uint32(hdr[4:])
	}()
	st, err := cs.Open(t.Context())
	require.NoError(t, err)
	var id uint32
	select {
	case id = <-opened:
	case <-time.After(5 * time.Second):
		t.Fatal("no opening frame")
	}
	rst := make([]byte, 12)
	rst[1] = 1 // a window update
	binary.BigEndian.PutUint16(rst[2:], 8)
	binary.BigEndian.PutUint32(rst[4:], id)
	_ = b.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err = b.Write(rst)
	require.NoError(t, err)
	_ = st.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, rerr := st.Read(make([]byte, 1))
	require.ErrorIs(t, rerr, yamux.ErrConnectionReset, "the reset has arrived")
	b.Close()
	select {
	case <-cs.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the session did not end")
	}
	_, werr := st.Write([]byte("x"))
	assert.ErrorIs(t, werr, yamux.ErrConnectionReset, "Write: %v", werr)
	_, rerr = st.Read(make([]byte, 1))
	assert.ErrorIs(t, rerr, yamux.ErrConnectionReset, "Read: %v", rerr)
	st.Close()
}
