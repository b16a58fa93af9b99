package msgpack

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	vmsgpack "github.com/vmihailenco/msgpack/v5"
)

// Scan and Skip read one-byte headers inline; refScan and refSkip are
// their forms before that, which read every header with header, kept
// here as the reference the fast forms must agree with.

func refScan(s *Scanner, buf []byte) (int, error) {
	if s.off == 0 {
		s.ntop, s.items, s.maps = 0, 0, 0
	}
	for {
		if s.skip > 0 {
			avail := uint64(len(buf) - s.off)
			if avail < s.skip {
				s.off += int(avail)
				s.skip -= avail
				return 0, nil
			}
			s.off += int(s.skip)
			s.skip = 0
			if s.closeDone() {
				return s.off, nil
			}
			continue
		}
		if s.off >= len(buf) {
			return 0, nil
		}
		h, ok, err := header(buf[s.off:])
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, nil
		}
		if len(s.stack) == 1 && s.ntop < maxTops {
			s.tops[s.ntop] = int32(s.off)
			s.ntop++
		}
		s.off += h.size
		budget := uint64(s.maxSize - s.off)
		if s.off > s.maxSize || h.payload > budget || h.items > budget {
			return 0, ErrTooLarge
		}
		if n := len(s.stack); n > 0 {
			s.stack[n-1]--
		}
		if h.isMap {
			s.maps += 1 + h.items/2
		}
		switch {
		case h.items > 0:
			if len(s.stack) >= s.maxDepth {
				return 0, ErrTooDeep
			}
			s.items += h.items
			s.stack = append(s.stack, h.items)
		case h.payload > 0:
			s.skip = h.payload
		default:
			if s.closeDone() {
				return s.off, nil
			}
		}
	}
}

func refSkip(b []byte) (int, error) {
	off := 0
	for pending := uint64(1); pending > 0; pending-- {
		if off >= len(b) {
			return 0, ErrMalformed
		}
		t, ok, err := header(b[off:])
		if err != nil {
			return 0, err
		}
		if !ok || t.payload > uint64(len(b)-off-t.size) || t.items > uint64(len(b)) {
			return 0, ErrMalformed
		}
		off += t.size + int(t.payload)
		pending += t.items
	}
	return off, nil
}

// scanSteps scans b as it arrives in pieces of the given sizes (cycled)
// and reports the result and the scanner's state after each piece.
func scanSteps(scan func(*Scanner, []byte) (int, error), b []byte, maxSize, maxDepth int, steps []int) (int, []int, error) {
	sc := NewScanner(maxSize, maxDepth)
	var stops []int
	for end, i := 0, 0; ; i++ {
		end = min(len(b), end+steps[i%len(steps)])
		n, err := scan(sc, b[:end])
		stops = append(stops, sc.off, int(sc.skip), sc.Depth(), sc.Items(), sc.MapItems())
		for _, e := range sc.Elements() {
			stops = append(stops, int(e))
		}
		for _, left := range sc.stack { // what each open container still holds
			stops = append(stops, int(left))
		}
		if n > 0 || err != nil || end == len(b) {
			return n, stops, err
		}
	}
}

func checkScanAgrees(t *testing.T, b []byte, steps []int) {
	// The limits: none that bites, a size limit inside the value (at
	// its last byte too, where a str8's length byte may lie) and depth
	// limits at the levels the inner loop works below.
	for _, lim := range [][2]int{{len(b), MaxDepth}, {len(b) / 2, 3}, {len(b) - 1, 2}, {1 << 20, 1}} {
		n, stops, err := scanSteps((*Scanner).Scan, b, lim[0], lim[1], steps)
		rn, rstops, rerr := scanSteps(refScan, b, lim[0], lim[1], steps)
		require.Equal(t, rn, n, "% x %v", b, lim)
		require.Equal(t, rerr, err, "% x %v", b, lim)
		require.Equal(t, rstops, stops, "% x %v", b, lim)
	}
	n, err := Skip(b)
	rn, rerr := refSkip(b)
	require.Equal(t, rn, n, "% x", b)
	require.Equal(t, rerr, err, "% x", b)
}

// TestScanMatchesReference: Scan (whole and in pieces, at several
// bounds) and Skip agree with their reference forms on random values and
// on their cuts and corruptions.
func TestScanMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	var values [][]byte
	for _, c := range benchValues() {
		b, err := Marshal(c.v)
		require.NoError(t, err)
		values = append(values, b)
	}
	for _, v := range []any{"abc", []byte("de"), 1.5, -3, uint64(1 << 40), []any{"x", nil, true}, map[string]any{"k": "v"}} {
		b, err := vmsgpack.Marshal(v)
		require.NoError(t, err)
		values = append(values, b)
	}
	for _, b := range values { // every cut of the fixed values
		for i := range b {
			checkScanAgrees(t, b[:i], []int{len(b)})
		}
	}
	for range 50 {
		v := randAll(r)
		b, err := vmsgpack.Marshal(&v)
		require.NoError(t, err)
		values = append(values, b)
	}
	for _, b := range values {
		for _, steps := range [][]int{{len(b)}, {1}, {3, 7}, {r.IntN(40) + 1}} {
			checkScanAgrees(t, b, steps)
		}
		checkScanAgrees(t, b[:r.IntN(len(b))], []int{5})
		c := append([]byte(nil), b...)
		c[r.IntN(len(c))] = byte(r.Uint32())
		checkScanAgrees(t, c, []int{len(c)})
		checkScanAgrees(t, c, []int{2})
	}
}

// FuzzScanAgrees: on any input, Scan and Skip agree with their reference
// forms.
func FuzzScanAgrees(f *testing.F) {
	for _, c := range benchValues() {
		b, err := Marshal(c.v)
		require.NoError(f, err)
		f.Add(b, uint8(0))
	}
	f.Add([]byte{0x92, 0xa3, 'a', 'b', 'c', 0x81, 0xa1, 'k', 0xc0}, uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, step uint8) {
		checkScanAgrees(t, b, []int{int(step) + 1})
	})
}
