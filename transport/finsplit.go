package transport

import "encoding/binary"

// yamux v0.1.2 handles a data frame's flags before it buffers the frame's
// body: a FIN on a frame that carries data wakes a reader waiting on the
// stream, which can find the stream closed and its buffer still empty,
// and return io.EOF before the data, which then nobody reads (a caller's
// last message and CloseSend, sent with the close in one frame as yamux
// implementations other than Go's may, were taken for a cancel about one
// time in twenty; TestVaudit16DataWithFIN in e2e). The guard moves such a
// close behind the body: yamux reads the frame without its FIN, then a
// window update of no length that carries the FIN, as Go's yamux sends a
// close.

// minGuardRead is the smallest buffer the guard reads the connection
// into: room for a whole header and more.
const minGuardRead = 64

// fins is the guard's state for moving closes behind bodies.
type fins struct {
	out      []byte   // bytes for yamux that no Read has returned yet: a moved FIN, and what followed it
	finAfter bool     // the body passing now is a frame's whose FIN was moved
	finID    uint32   // that frame's stream
	cuts     []finCut // where the bytes the current read returns get a FIN frame
}

// finCut is a moved FIN: a window update with FIN for stream id, after
// the first at bytes of a read.
type finCut struct {
	at int
	id uint32
}

// splitFIN clears the FIN of h, a data frame's header as yamux will read
// it, when the frame has a body, and has inspect put the FIN behind the
// body.
func (g *guard) splitFIN(h []byte) {
	flags := binary.BigEndian.Uint16(h[2:])
	if h[1] != 0 || flags&flagFIN == 0 || g.body == 0 {
		return
	}
	binary.BigEndian.PutUint16(h[2:], flags&^flagFIN)
	g.finAfter, g.finID = true, binary.BigEndian.Uint32(h[4:])
}

// pass inspects the n bytes read into p and returns how many yamux may
// have now: a header's first bytes are held back (in g.hdr) until it is
// whole, and the bytes after a moved FIN wait in out behind it.
func (g *guard) pass(p []byte, n int) (int, error) {
	g.cuts = g.cuts[:0]
	if err := g.inspect(p[:n]); err != nil {
		return 0, err
	}
	n -= g.hn
	if len(g.cuts) == 0 {
		return n, nil
	}
	out := g.out[:0]
	for i, c := range g.cuts {
		end := n
		if i+1 < len(g.cuts) {
			end = g.cuts[i+1].at
		}
		var fin [12]byte
		fin[1] = 1 // a window update
		binary.BigEndian.PutUint16(fin[2:], flagFIN)
		binary.BigEndian.PutUint32(fin[4:], c.id)
		out = append(append(out, fin[:]...), p[c.at:end]...)
	}
	g.out = out
	return g.cuts[0].at, nil
}

// readSmall is Read into a buffer too small for a header: through one of
// minGuardRead bytes, what does not fit waiting in out.
func (g *guard) readSmall(p []byte) (int, error) {
	var buf [minGuardRead]byte
	n, err := g.readOnce(buf[:])
	m := copy(p, buf[:n])
	if m < n {
		g.out = append(append([]byte(nil), buf[m:n]...), g.out...)
	}
	return m, err
}
