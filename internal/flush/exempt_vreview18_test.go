package flush

import (
	"net"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview18FlushedLeavesOutExempt: Flushed reports every batch less
// the bytes Exempt left out, linked bodies included, whether the batch is
// written or dropped.
func TestVreview18FlushedLeavesOutExempt(t *testing.T) {
	var flushed atomic.Int64
	dst := &sink{}
	w := New(dst, Config{Flushed: func(n int) { flushed.Add(int64(n)) }})
	queue := func(head string, body []byte, exempt bool) {
		b, err := w.Begin()
		require.NoError(t, err)
		mark := len(b)
		b = append(b, head...)
		var tk Ticket
		b, tk = w.Link(b, body)
		if exempt {
			w.Exempt(len(b) - mark + len(body))
		}
		w.End(b)
		w.Wait(t.Context(), tk)
	}
	queue("charged", []byte("body"), false)
	queue("exempt", []byte("linked body"), true)
	queue("charged again", nil, false)
	require.NoError(t, w.Close())
	assert.EqualValues(t, len("chargedbody")+len("charged again"), flushed.Load())
	assert.Equal(t, "chargedbodyexemptlinked bodycharged again", string(dst.bytes()))

	// Dropped: a writer that fails drops what is pending, and reports it
	// less what was exempted.
	a, b := net.Pipe()
	b.Close()
	flushed.Store(0)
	w = New(a, Config{Flushed: func(n int) { flushed.Add(int64(n)) }})
	buf, err := w.Begin()
	require.NoError(t, err)
	buf = append(buf, "exempt"...)
	w.Exempt(len("exempt"))
	buf = append(buf, "charged"...)
	w.End(buf)
	w.Abort()
	require.NoError(t, w.Close())
	assert.EqualValues(t, len("charged"), flushed.Load())
}
