package transport_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSniff: the first byte picks the protocol, and the returned conn
// yields it again before the rest.
func TestSniff(t *testing.T) {
	for _, tc := range []struct {
		first byte
		want  transport.Protocol
	}{
		{0x00, transport.ProtocolSession},
		{0x94, transport.ProtocolMsgpackRPC},
		{0x90, transport.ProtocolMsgpackRPC},
		{0xdc, transport.ProtocolMsgpackRPC},
		{0xdd, transport.ProtocolMsgpackRPC},
	} {
		a, b := net.Pipe()
		go func() { _, _ = b.Write([]byte{tc.first, 'x', 'y'}); b.Close() }()
		proto, conn, err := transport.Sniff(a, 5*time.Second)
		require.NoError(t, err)
		assert.Equal(t, tc.want, proto, "first byte %#x", tc.first)
		rest, err := io.ReadAll(conn)
		require.NoError(t, err)
		assert.Equal(t, []byte{tc.first, 'x', 'y'}, rest)
		a.Close()
	}
}

// TestSniffRefuses: any other first byte is ErrUnknownProtocol; a silent
// peer is a timeout.
func TestSniffRefuses(t *testing.T) {
	for _, first := range []byte{'G', 0x16, 0x80, 0xc1, 0xde} {
		a, b := net.Pipe()
		go func() { _, _ = b.Write([]byte{first}) }()
		_, _, err := transport.Sniff(a, 5*time.Second)
		require.ErrorIs(t, err, transport.ErrUnknownProtocol, "first byte %#x", first)
		a.Close()
		b.Close()
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	_, _, err := transport.Sniff(a, 10*time.Millisecond)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
}

// TestPrepend: the byte comes first, once, then the conn's own bytes.
func TestPrepend(t *testing.T) {
	a, b := net.Pipe()
	go func() { _, _ = b.Write([]byte("bc")); b.Close() }()
	conn := transport.Prepend(a, 'a')
	n, err := conn.Read(nil)
	require.NoError(t, err)
	assert.Zero(t, n, "an empty read keeps the byte")
	got, err := io.ReadAll(conn)
	require.NoError(t, err)
	assert.Equal(t, "abc", string(got))
}

func TestProtocolString(t *testing.T) {
	assert.Equal(t, "session", transport.ProtocolSession.String())
	assert.Equal(t, "msgpack-rpc", transport.ProtocolMsgpackRPC.String())
	assert.Equal(t, "unknown", transport.Protocol(0).String())
}
