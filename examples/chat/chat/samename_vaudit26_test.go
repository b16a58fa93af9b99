package chat_test

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/examples/chat/chat"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gatedWriter holds every write after the first (the "[joined]" line)
// until open is closed.
type gatedWriter struct {
	syncBuffer
	open   chan struct{}
	joined sync.Once
	first  chan struct{}
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	isFirst := false
	g.joined.Do(func() { isFirst = true })
	if isFirst {
		defer close(g.first)
	} else {
		<-g.open
	}
	return g.syncBuffer.Write(p)
}

// oneLine reads as "a1\n", then signals ended as it reports the end of
// the input: Member's reader has published the line by then.
type oneLine struct {
	sent  bool
	ended chan struct{}
}

func (o *oneLine) Read(p []byte) (int, error) {
	if !o.sent {
		o.sent = true
		return copy(p, "a1\n"), nil
	}
	close(o.ended)
	return 0, io.EOF
}

// gatedReader reads r once open is closed.
type gatedReader struct {
	r    io.Reader
	open chan struct{}
}

func (g gatedReader) Read(p []byte) (int, error) {
	<-g.open
	return g.r.Read(p)
}

// TestVaudit26SameNameCountsOwnLines: two members named "bob". The first
// has the second's two lines waiting to be printed when its own one line
// ends its input; it must still wait for that line to come back, as
// Member's doc says, and print it. It counted lines by name, took the
// other bob's two lines for its own, and returned without its line.
func TestVaudit26SameNameCountsOwnLines(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	ready := make(chan string, 1)
	served := make(chan error, 1)
	go func() { served <- chat.Serve(ctx, "127.0.0.1:0", ready) }()
	addr := <-ready

	out := &gatedWriter{syncBuffer: syncBuffer{ch: make(chan struct{}, 1)}, open: make(chan struct{}), first: make(chan struct{})}
	in := &oneLine{ended: make(chan struct{})}
	inGate := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- chat.Member(ctx, addr, "bob", gatedReader{in, inGate}, out) }()
	<-out.first // joined

	other := &syncBuffer{ch: make(chan struct{}, 1)}
	require.NoError(t, chat.Member(ctx, addr, "bob", strings.NewReader("b1\nb2\n"), other))
	close(inGate) // now the first bob says its line
	<-in.ended
	close(out.open)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-ctx.Done():
		t.Fatal("Member did not return")
	}
	assert.Contains(t, out.String(), "bob: a1\n", "the member returned before its own line came back")
	assert.Contains(t, out.String(), "bob: b2\n")
	cancel()
	require.NoError(t, <-served)
}
