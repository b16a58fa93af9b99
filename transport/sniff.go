package transport

import (
	"errors"
	"net"
	"time"

	"github.com/ferryrpc/ferry/internal/wire"
)

// ErrUnknownProtocol is returned by Sniff for a first byte that starts
// neither a yamux session nor a MessagePack-RPC message.
var ErrUnknownProtocol = errors.New("ferry: unknown protocol")

// Protocol is what a connection speaks.
type Protocol int

// The protocols a Ferry port serves.
const (
	ProtocolSession    Protocol = iota + 1 // a yamux session of Ferry streams
	ProtocolMsgpackRPC                     // bare MessagePack-RPC
)

// String returns the protocol's name: "session", "msgpack-rpc", or
// "unknown".
func (p Protocol) String() string {
	switch p {
	case ProtocolSession:
		return "session"
	case ProtocolMsgpackRPC:
		return "msgpack-rpc"
	}
	return "unknown"
}

// Sniff reads conn's first byte within timeout and returns the protocol
// and a net.Conn that yields that byte again.
func Sniff(conn net.Conn, timeout time.Duration) (Protocol, net.Conn, error) {
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	var b [1]byte
	if _, err := conn.Read(b[:]); err != nil {
		return 0, nil, err
	}
	_ = conn.SetReadDeadline(time.Time{})
	pc := &prefixConn{Conn: conn, first: b[0], has: true}
	switch {
	case b[0] == wire.SessionByte:
		return ProtocolSession, pc, nil
	case wire.IsArrayStart(b[0]):
		return ProtocolMsgpackRPC, pc, nil
	}
	return 0, nil, ErrUnknownProtocol
}

// Prepend returns a net.Conn whose first Read yields b and then reads
// from conn.
func Prepend(conn net.Conn, b byte) net.Conn { return &prefixConn{Conn: conn, first: b, has: true} }

// StreamID returns the session stream number of a stream returned by Open
// or Accept (the same number on both sides), or 0 for another conn.
func StreamID(conn net.Conn) uint32 {
	if s, ok := conn.(interface{ StreamID() uint32 }); ok {
		return s.StreamID()
	}
	return 0
}

type prefixConn struct {
	net.Conn
	first byte
	has   bool
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if p.has && len(b) > 0 {
		b[0] = p.first
		p.has = false
		return 1, nil
	}
	return p.Conn.Read(b)
}

// Buffered reports the bytes the stream underneath holds unread
// (Stream.Buffered), plus the prepended byte while it is unread; over
// another conn, 0.
func (p *prefixConn) Buffered() int {
	n := 0
	if p.has {
		n = 1
	}
	if b, ok := p.Conn.(interface{ Buffered() int }); ok {
		n += b.Buffered()
	}
	return n
}

// Park parks the reader of the stream underneath (Stream.Park) once the
// prepended byte has been read; before, or over another conn, it returns
// false.
func (p *prefixConn) Park(resume func()) bool {
	if pk, ok := p.Conn.(interface{ Park(func()) bool }); ok && !p.has {
		return pk.Park(resume)
	}
	return false
}
