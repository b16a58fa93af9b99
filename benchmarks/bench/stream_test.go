package bench

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeSys is an in-memory system whose streams echo through a channel,
// with faults to inject. It is its own Server. The tests inject faults in
// the first message: every stream sends at least one.
type fakeSys struct {
	noStreams bool
	failSend  int  // Send fails on this message (1-based); 0 never
	drop      int  // the echo of this message (1-based) never comes; 0 none
	badEcho   bool // Check fails
}

func (f *fakeSys) Name() string            { return "fake" }
func (f *fakeSys) Listen() (Server, error) { return f, nil }
func (f *fakeSys) Close() error            { return nil }
func (f *fakeSys) Dial(context.Context) (Client, error) {
	if f.noStreams {
		return plainClient{}, nil
	}
	return fakeClient{f}, nil
}

type plainClient struct{}

func (plainClient) Close() error { return nil }

type fakeClient struct{ sys *fakeSys }

func (fakeClient) Close() error { return nil }

func (c fakeClient) OpenStream(ctx context.Context) (Stream, error) {
	return &fakeStream{sys: c.sys, ctx: ctx, echoes: make(chan int, 1024)}, nil
}

type fakeStream struct {
	sys    *fakeSys
	ctx    context.Context
	echoes chan int // the numbers of the messages sent, as echoed
	sent   int
	last   int
}

func (k *fakeStream) Send() error {
	k.sent++
	switch k.sent {
	case k.sys.failSend:
		return errors.New("fake: send failed")
	case k.sys.drop:
		return nil
	}
	k.echoes <- k.sent
	return nil
}

func (k *fakeStream) CloseSend() error { close(k.echoes); return nil }

func (k *fakeStream) Recv() error {
	select {
	case n, ok := <-k.echoes:
		if !ok {
			return io.EOF
		}
		k.last = n
		return nil
	case <-k.ctx.Done():
		return k.ctx.Err()
	}
}

func (k *fakeStream) Check() error {
	if k.last == 0 || k.sys.badEcho {
		return errors.New("fake: bad echo")
	}
	return nil
}

func (k *fakeStream) Close() error     { return nil }
func (k *fakeStream) MessageSize() int { return 100 }

func runFake(t *testing.T, sys *fakeSys) (Result, error) {
	t.Helper()
	return RunStream(t.Context(), sys, StreamOptions{Streams: 2, Window: 4, Warmup: time.Millisecond, Duration: 10 * time.Millisecond})
}

func TestRunStream(t *testing.T) {
	res, err := runFake(t, &fakeSys{})
	require.NoError(t, err)
	assert.Equal(t, "fake", res.System)
	assert.Equal(t, 2, res.Concurrency)
	assert.Equal(t, 4, res.Window)
	assert.Equal(t, 100, res.MessageBytes)
	assert.GreaterOrEqual(t, res.Calls, int64(0))
	if res.Calls > 0 {
		assert.Positive(t, res.CallsPerSec)
	}
}

func TestRunStreamFailures(t *testing.T) {
	_, err := runFake(t, &fakeSys{noStreams: true})
	require.ErrorIs(t, err, ErrUnsupported)

	_, err = runFake(t, &fakeSys{failSend: 1})
	require.ErrorContains(t, err, "fake: send failed")

	_, err = runFake(t, &fakeSys{drop: 1})
	require.ErrorContains(t, err, "1 echoes missing")

	_, err = runFake(t, &fakeSys{badEcho: true})
	require.ErrorContains(t, err, "fake: bad echo")

	_, err = RunStream(t.Context(), &fakeSys{}, StreamOptions{Streams: 1})
	require.Error(t, err)
}
