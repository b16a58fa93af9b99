package transport

import (
	"bytes"
	"io"
	"testing"
	"time"
)

// guardFrames builds a frame sequence from spec, four bytes a frame:
// type (data, window update, ping, go-away), flags, a length and a fill
// byte; streams are odd, as a dialing peer's are. It returns what the
// peer sends and what the guard must hand yamux: the same, but that a
// data frame's FIN with a body comes after the body, as a window update
// of no length.
func guardFrames(spec []byte) (in, want []byte) {
	for i := 0; i+4 <= len(spec) && i < 4*48; i += 4 { // under the ping burst
		typ, flags := spec[i]%4, uint16(spec[i+1]&0xf)
		id := uint32(1 + 2*(spec[i+1]>>4%4))
		switch typ {
		case 0: // data
			body := bytes.Repeat([]byte{spec[i+3]}, int(spec[i+2]%40))
			in = append(append(in, frame(0, flags, id, uint32(len(body)))...), body...)
			if flags&flagFIN != 0 && len(body) > 0 {
				want = append(append(want, frame(0, flags&^flagFIN, id, uint32(len(body)))...), body...)
				want = append(want, frame(1, flagFIN, id, 0)...)
				continue
			}
			want = append(append(want, frame(0, flags, id, uint32(len(body)))...), body...)
			continue
		case 1: // window update: its length is a window delta, no body
			in = append(in, frame(1, flags, id, uint32(spec[i+2]))...)
		case 2: // ping
			in = append(in, frame(2, flags&^(flagFIN|flagRST), 0, uint32(spec[i+3]))...)
		case 3: // go-away
			in = append(in, frame(3, 0, 0, 0)...)
		}
		want = append(want, in[len(in)-12:]...)
	}
	return in, want
}

// FuzzGuardReframes: whatever frames a peer sends, in whatever pieces the
// connection delivers them and into whatever buffers yamux reads, the
// guard hands yamux the same bytes, but for a data frame's FIN moved
// behind its body (TestVaudit16GuardMovesFIN), or a prefix of them and an
// error when a frame breaks a limit; never more, never other bytes.
func FuzzGuardReframes(f *testing.F) {
	f.Add([]byte{0, 1, 3, 'a', 0, 4, 5, 'h', 0, 5, 2, 'x', 1, 4, 0, 0}, []byte{1 << 7}, uint16(4096))
	f.Add([]byte{0, 4, 39, 'z', 2, 0, 0, 1, 0, 0x14, 7, 'q', 3, 0, 0, 0}, []byte{1, 11, 12, 13}, uint16(1))
	f.Add([]byte{0, 0x25, 0, 0, 0, 0x24, 12, 'b', 1, 0x28, 9, 0}, []byte{5, 7}, uint16(7))
	f.Add([]byte{0, 4, 1, 'a', 0, 4, 1, 'b', 0, 4, 1, 'c'}, []byte{13}, uint16(64))
	f.Fuzz(func(t *testing.T, spec, chunks []byte, bufSize uint16) {
		in, want := guardFrames(spec)
		sizes := []int{1 << 20}
		if len(chunks) > 0 {
			sizes = sizes[:0]
			for _, c := range chunks {
				sizes = append(sizes, int(c)+1)
			}
		}
		g := newGuard(&chunkConn{in: in, chunks: sizes}, true, NewBudget(0, nil), time.Minute)
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
		if !bytes.HasPrefix(want, got) {
			t.Fatalf("the guard handed yamux bytes the peer did not send:\n got %x\nwant %x", got, want)
		}
		if err == io.EOF && !bytes.Equal(got, want) {
			t.Fatalf("the guard held bytes back:\n got %x\nwant %x", got, want)
		}
		if err == nil {
			t.Fatal("reads did not end")
		}
	})
}
