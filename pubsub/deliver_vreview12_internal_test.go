package pubsub

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview12DeliverHalves: deliver's halves keep the messages' order,
// count only the message that alone is too large, and carry the count so
// far in each batch that goes out; an error other than too-large ends the
// delivery with that error, and the caller's batch keeps its messages.
func TestVreview12DeliverHalves(t *testing.T) {
	const limit = 3 // messages a batch may carry; "big" alone is over
	type sent struct {
		msgs    []string
		dropped uint64
	}
	var out []sent
	var failOn string
	send := func(b *Batch) error {
		if len(b.Messages) > limit {
			return ferry.WrapError(ferry.CodeResourceExhausted, wire.ErrTooLarge, "too many")
		}
		var s sent
		for _, m := range b.Messages {
			if string(m) == "big" {
				return ferry.WrapError(ferry.CodeResourceExhausted, wire.ErrTooLarge, "too big")
			}
			if string(m) == failOn {
				return errors.New("broken")
			}
			s.msgs = append(s.msgs, string(m))
		}
		s.dropped = b.Dropped
		out = append(out, s)
		return nil
	}
	batch := func(names ...string) *Batch {
		b := &Batch{}
		for _, n := range names {
			b.Messages = append(b.Messages, codec.Raw(n))
		}
		return b
	}
	var names []string
	for i := range 10 {
		names = append(names, fmt.Sprint(i))
	}
	names[6] = "big"

	s := &sub{}
	b := batch(names...)
	require.NoError(t, s.deliver(b, send))
	assert.Len(t, b.Messages, 10, "the caller's batch keeps its messages")
	var got []string
	for _, o := range out {
		got = append(got, o.msgs...)
		for _, m := range o.msgs {
			want := uint64(0)
			if m > "6" {
				want = 1
			}
			assert.Equal(t, want, o.dropped, "the count so far with message %s", m)
		}
	}
	assert.Equal(t, []string{"0", "1", "2", "3", "4", "5", "7", "8", "9"}, got)
	assert.Equal(t, uint64(1), s.dropped.Load())

	// Another error mid-way: returned, the rest not sent, nothing counted.
	out, failOn = nil, "8"
	s = &sub{}
	b = batch(names...)
	err := s.deliver(b, send)
	require.EqualError(t, err, "broken")
	assert.Len(t, b.Messages, 10)
	got = nil
	for _, o := range out {
		got = append(got, o.msgs...)
	}
	assert.Equal(t, []string{"0", "1", "2", "3", "4", "5"}, got)
	assert.Equal(t, uint64(1), s.dropped.Load(), "only the message alone too large")
}
