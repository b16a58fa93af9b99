package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"
)

// refReframe is what the guard hands yamux for the raw bytes in, written
// from its doc: every whole frame header and the body bytes that arrived,
// a data frame's FIN with a body moved behind the body as a window update
// of no length (not sent when the body is cut), a header cut short held
// back. It stops before the first frame the guard must refuse whatever
// the time (a version but 0, a type past 3, a stream opened with an id of
// the accepting side's when accepting, or of the dialing side's when not)
// and reports whether there is one; pings counts the pings that ask for
// an answer (SYN) before that, which a rate limits.
func refReframe(in []byte, accepting bool) (out []byte, refused bool, pings int) {
	for len(in) >= 12 {
		h := in[:12]
		typ, flags := h[1], binary.BigEndian.Uint16(h[2:])
		id, length := binary.BigEndian.Uint32(h[4:]), binary.BigEndian.Uint32(h[8:])
		if h[0] != 0 || typ > 3 || typ <= 1 && flags&flagSYN != 0 && (id%2 == 1) != accepting {
			return out, true, pings
		}
		if typ == 2 && flags&flagSYN != 0 {
			pings++
		}
		in = in[12:]
		if typ != 0 {
			out = append(out, h...)
			continue
		}
		body := in[:min(uint64(length), uint64(len(in)))]
		in = in[len(body):]
		if flags&flagFIN == 0 || length == 0 {
			out = append(append(out, h...), body...)
			continue
		}
		out = append(append(out, h[:2]...), byte((flags&^flagFIN)>>8), byte(flags&^flagFIN))
		out = append(append(out, h[4:]...), body...)
		if len(body) == int(length) {
			out = append(out, frame(1, flagFIN, id, 0)...)
		}
	}
	return out, false, pings
}

// FuzzGuardRawBytes feeds the guard raw bytes, not frames built to be
// valid as FuzzGuardReframes does (whose corpus stopped growing): any
// version, type, flags, stream id and length, in any pieces, read into
// buffers of any size. The guard hands yamux a prefix of refReframe's
// bytes; it ends with io.EOF and all of them unless a frame breaks a
// limit, and then with ErrHostilePeer.
func FuzzGuardRawBytes(f *testing.F) {
	for _, s := range [][]byte{
		cat(frame(0, flagSYN, 1, 3), []byte("abc"), frame(0, flagFIN, 1, 2), []byte("de"), frame(1, flagFIN, 3, 0)),
		cat(frame(1, flagSYN, 1, 1<<18), frame(0, 0, 1, 1<<31), []byte("cut short")),
		cat(frame(0, flagSYN|flagFIN, 5, 4), []byte("wxyz"), frame(2, flagSYN, 0, 7), frame(3, 0, 0, 1)),
		cat(frame(0, flagSYN, 2, 0)),
		cat(frame(0, flagSYN, 1, 0), []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}),
		cat(frame(0, flagSYN, 1, 2), []byte{'o', 'k'}, []byte{0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}),
		cat(frame(0, flagFIN|flagRST, 7, 5), []byte("rst"), frame(0, flagSYN, 9, 1)[:7]),
		bytes.Repeat(frame(2, flagSYN, 0, 1), 70),
		cat(frame(0, flagSYN|flagFIN, 1, 13), frame(0, 0, 1, 1), []byte{'x'}),
	} {
		f.Add(s, []byte{5, 12, 200}, uint16(11), true)
		f.Add(s, []byte{}, uint16(4096), false)
	}
	f.Fuzz(func(t *testing.T, in, chunks []byte, bufSize uint16, accepting bool) {
		want, refused, pings := refReframe(in, accepting)
		sizes := []int{1 << 20}
		if len(chunks) > 0 {
			sizes = sizes[:0]
			for _, c := range chunks {
				sizes = append(sizes, int(c)+1)
			}
		}
		g := newGuard(closingChunks{&chunkConn{in: in, chunks: sizes}}, accepting, NewBudget(0, nil), time.Minute)
		buf := make([]byte, int(bufSize)%8192+1)
		var got []byte
		var err error
		for range 4 * (len(in) + len(want) + 1) { // every Read returns a byte at least, or ends
			var n int
			n, err = g.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		if err == nil {
			t.Fatal("reads did not end")
		}
		if !bytes.HasPrefix(want, got) {
			t.Fatalf("the guard handed yamux bytes the peer did not send:\n got %x\nwant %x", got, want)
		}
		switch {
		case refused:
			if !errors.Is(err, ErrHostilePeer) {
				t.Fatalf("a frame the guard must refuse passed: %v", err)
			}
		case pings <= pingBurst:
			if err != io.EOF {
				t.Fatalf("the guard refused valid frames: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("the guard held bytes back:\n got %x\nwant %x", got, want)
			}
		}
		if err != io.EOF && !errors.Is(err, ErrHostilePeer) {
			t.Fatalf("an error of another kind: %v", err)
		}
	})
}

// closingChunks is a chunkConn the guard can close (it does when a frame
// breaks a limit).
type closingChunks struct{ *chunkConn }

func (closingChunks) Close() error { return nil }
