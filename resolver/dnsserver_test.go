package resolver_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// dnsServer is a minimal authoritative DNS server over UDP on loopback,
// enough for Go's own resolver: A, AAAA and SRV answers, NXDOMAIN for
// unknown names. Records are changed while it runs.
type dnsServer struct {
	pc      net.PacketConn
	mu      sync.Mutex
	a       map[string][]netip.Addr // lower-case FQDN with the final dot
	srv     map[string][]net.SRV
	queries atomic.Int64
	done    chan struct{}
}

const (
	typeA    = 1
	typeAAAA = 28
	typeSRV  = 33
)

func newDNSServer(t *testing.T) *dnsServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &dnsServer{pc: pc, a: map[string][]netip.Addr{}, srv: map[string][]net.SRV{}, done: make(chan struct{})}
	go s.serve()
	t.Cleanup(func() { pc.Close(); <-s.done })
	return s
}

// resolver returns a *net.Resolver that sends every query to s.
func (s *dnsServer) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", s.pc.LocalAddr().String())
	}}
}

func (s *dnsServer) setA(name string, ips ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var addrs []netip.Addr
	for _, ip := range ips {
		addrs = append(addrs, netip.MustParseAddr(ip))
	}
	s.a[fqdn(name)] = addrs
}

func (s *dnsServer) setSRV(name string, recs ...net.SRV) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srv[fqdn(name)] = recs
}

func fqdn(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".") + ".") }

func (s *dnsServer) serve() {
	defer close(s.done)
	buf := make([]byte, 1500)
	for {
		n, from, err := s.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		s.queries.Add(1)
		if resp, err := s.answer(buf[:n]); err == nil {
			_, _ = s.pc.WriteTo(resp, from)
		}
	}
}

// answer builds the response to one query: the header and question echoed,
// then the answer records. Name compression is used only for the owner
// name of answers (a pointer to the question's name at offset 12).
func (s *dnsServer) answer(q []byte) ([]byte, error) {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:]) != 1 {
		return nil, errors.New("want one question")
	}
	name, end, err := readName(q, 12)
	if err != nil || end+4 > len(q) {
		return nil, errors.New("bad question")
	}
	qtype := binary.BigEndian.Uint16(q[end:])
	question := q[12 : end+4]

	s.mu.Lock()
	addrs, knownA := s.a[name]
	srvs, knownSRV := s.srv[name]
	s.mu.Unlock()

	var answers [][]byte
	switch qtype {
	case typeA, typeAAAA:
		for _, a := range addrs {
			if a.Is4() == (qtype == typeA) {
				answers = append(answers, rr(qtype, a.AsSlice()))
			}
		}
	case typeSRV:
		for _, r := range srvs {
			data := binary.BigEndian.AppendUint16(nil, r.Priority)
			data = binary.BigEndian.AppendUint16(data, r.Weight)
			data = binary.BigEndian.AppendUint16(data, r.Port)
			answers = append(answers, rr(typeSRV, appendName(data, r.Target)))
		}
	}
	flags := uint16(0x8000 | 0x0400 | 0x0080) // response, authoritative, recursion available
	flags |= binary.BigEndian.Uint16(q[2:]) & 0x0100
	if !knownA && !knownSRV {
		flags |= 3 // NXDOMAIN
	}
	out := append([]byte(nil), q[0:2]...) // id
	out = binary.BigEndian.AppendUint16(out, flags)
	out = binary.BigEndian.AppendUint16(out, 1)
	out = binary.BigEndian.AppendUint16(out, uint16(len(answers)))
	out = append(out, 0, 0, 0, 0) // no authority, no additional records
	out = append(out, question...)
	for _, a := range answers {
		out = append(out, a...)
	}
	return out, nil
}

// rr encodes an answer record owned by the question's name, TTL 0.
func rr(typ uint16, data []byte) []byte {
	b := []byte{0xc0, 12}
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint16(b, 1) // class IN
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
	return append(b, data...)
}

func appendName(b []byte, name string) []byte {
	for _, label := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		b = append(b, byte(len(label)))
		b = append(b, label...)
	}
	return append(b, 0)
}

// readName reads an uncompressed name at off, as queries carry it.
func readName(b []byte, off int) (string, int, error) {
	var sb strings.Builder
	for {
		if off >= len(b) {
			return "", 0, errors.New("short name")
		}
		n := int(b[off])
		off++
		if n == 0 {
			break
		}
		if n > 63 || off+n > len(b) {
			return "", 0, errors.New("bad label")
		}
		sb.Write(b[off : off+n])
		sb.WriteByte('.')
		off += n
	}
	return strings.ToLower(sb.String()), off, nil
}
