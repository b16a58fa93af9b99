package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scriptReader returns its steps one Read at a time: bytes, or an error;
// an io.Reader step is read over as many Reads as it takes.
type scriptReader struct{ steps []any }

func (s *scriptReader) Read(p []byte) (int, error) {
	if len(s.steps) == 0 {
		return 0, io.EOF
	}
	step := s.steps[0]
	s.steps = s.steps[1:]
	if err, ok := step.(error); ok {
		return 0, err
	}
	if rd, ok := step.(io.Reader); ok { // read until it ends, then the next step
		n, err := rd.Read(p)
		if err != io.EOF {
			s.steps = append([]any{rd}, s.steps...)
		}
		if n == 0 && err == io.EOF {
			return s.Read(p)
		}
		return n, nil
	}
	return copy(p, step.([]byte)), nil
}

var errWoken = errors.New("woken")

// wokenReader returns part of a message, then fails every later Read
// after a pause, like a blocked read woken by a deadline.
type wokenReader struct{ sent bool }

func (w *wokenReader) Read(p []byte) (int, error) {
	if !w.sent {
		w.sent = true
		return copy(p, msgReq[:3]), nil
	}
	time.Sleep(time.Millisecond)
	return 0, errWoken
}

// TestStallNotExtendedByRetries: a Next called again and again after a
// read error (the deadline that parks an idle reader) gives a peer that
// holds part of a message no more time: only bytes that arrive do, so the
// stall still fires.
func TestStallNotExtendedByRetries(t *testing.T) {
	stalled := make(chan struct{})
	r := NewReader(&wokenReader{}, DefaultLimits)
	r.SetStall(20*time.Millisecond, func() { close(stalled) })
	defer r.Close()
	for range 5000 { // each retry takes at least 1 ms
		_, err := r.Next()
		require.ErrorIs(t, err, errWoken)
		select {
		case <-stalled:
			return
		default:
		}
	}
	t.Fatal("retries without new bytes kept the stall timer from firing")
}

// TestReleaseIdle: an idle reader drops its buffer and its charge; one
// holding part of a message keeps them.
func TestReleaseIdle(t *testing.T) {
	acct := &limitAccount{limit: 1 << 20}
	r := NewReader(&scriptReader{steps: []any{msgReq, msgReq[:3], errWoken, msgReq[3:]}}, DefaultLimits)
	r.SetAccount(acct)
	defer r.Close()
	_, err := r.Next()
	require.NoError(t, err)
	assert.Equal(t, startBuffer, acct.used)
	require.True(t, r.ReleaseIdle())
	assert.Nil(t, r.buf)
	assert.Zero(t, acct.used)
	_, err = r.Next()
	require.ErrorIs(t, err, errWoken)
	assert.False(t, r.ReleaseIdle(), "part of a message is held")
	assert.NotNil(t, r.buf)
	msg, err := r.Next()
	require.NoError(t, err)
	assert.Equal(t, msgReq, msg)
}

// TestReadBodyCountsArrivals: body bytes that ReadBody reads straight
// into their destination count as arrivals for the stall timer, like the
// bytes the buffer takes.
func TestReadBodyCountsArrivals(t *testing.T) {
	const body = 70000
	head := []byte{0x94, 0x01, 0x00, 0xc0, 0xc6, 0x00, 0x01, 0x11, 0x70} // [1, 0, nil, bin32(70000)]
	steps := []any{head}
	for range body / 10000 {
		steps = append(steps, bytes.NewReader(make([]byte, 10000)))
	}
	r := NewReader(&scriptReader{steps: steps}, DefaultLimits)
	r.SetDirect(64 << 10)
	r.SetStall(time.Hour, func() {})
	defer r.Close()
	_, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, body, r.Body())
	before, arrived := r.got, r.Arrived()
	require.Positive(t, arrived, "a head that came alone waits for one more read")
	dst := make([]byte, body)
	_, err = r.ReadBody(dst)
	require.NoError(t, err)
	assert.Equal(t, uint64(body-arrived), r.got-before)
	assert.True(t, r.Idle())
}

// TestReaderStartsSmall: a reader's first buffer, and its first after
// ReleaseIdle, is startBuffer: a burst of connections that each read a
// small message and park leaves small holes in the heap, not 4 KiB ones
// among yamux's lasting 4 KiB read buffers. A read that fills it replaces
// it with a minBuffer one (more is on its way), with no message lost.
func TestReaderStartsSmall(t *testing.T) {
	var stream []byte
	for range 300 { // 3300 bytes: fills the first buffer
		stream = append(stream, msgReq...)
	}
	r := NewReader(&scriptReader{steps: []any{msgReq, errWoken, bytes.NewReader(stream)}}, DefaultLimits)
	defer r.Close()
	msg, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, msgReq, msg)
	assert.Equal(t, 1<<10, cap(r.buf), "the first buffer")
	_, err = r.Next()
	require.ErrorIs(t, err, errWoken)
	require.True(t, r.ReleaseIdle())
	for i := range 300 {
		msg, err := r.Next()
		require.NoError(t, err, "message %d", i)
		require.Equal(t, msgReq, msg, "message %d", i)
		if i == 0 {
			assert.Equal(t, 1<<10, cap(r.buf), "the first buffer after ReleaseIdle")
		}
	}
	assert.Equal(t, minBuffer, cap(r.buf), "a read filled the first buffer")
	_, err = r.Next()
	require.Equal(t, io.EOF, err)
}

// TestReleaseIdleDropsStallTimer: an idle reader keeps no stall timer;
// the next partial message makes one, which still fires.
func TestReleaseIdleDropsStallTimer(t *testing.T) {
	stalled := make(chan struct{})
	r := NewReader(&scriptReader{steps: []any{msgReq[:3], msgReq[3:], errWoken, msgReq[:3]}}, DefaultLimits)
	r.SetStall(50*time.Millisecond, func() { close(stalled) })
	defer r.Close()
	msg, err := r.Next() // partial, then whole: the timer was armed
	require.NoError(t, err)
	require.Equal(t, msgReq, msg)
	_, err = r.Next() // at the boundary the timer is disarmed; then woken, as to park
	require.ErrorIs(t, err, errWoken)
	require.True(t, r.ReleaseIdle())
	r.mu.Lock()
	assert.Nil(t, r.timer, "an idle reader keeps no stall timer")
	r.mu.Unlock()
	_, err = r.Next() // part of a message, then EOF
	require.Error(t, err)
	select {
	case <-stalled:
	case <-time.After(5 * time.Second):
		t.Fatal("the stall timer made after ReleaseIdle did not fire")
	}
}
