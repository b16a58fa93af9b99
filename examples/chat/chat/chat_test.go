package chat_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/examples/chat/chat"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	ch chan struct{}
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.b.Write(p)
	select {
	case s.ch <- struct{}{}:
	default:
	}
	return n, err
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestThreeMembers drives three members through one room: each says two
// lines, and each sees all six, in the order each sender sent them.
func TestThreeMembers(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	ready := make(chan string, 1)
	served := make(chan error, 1)
	go func() { served <- chat.Serve(ctx, "127.0.0.1:0", ready) }()
	addr := <-ready

	names := []string{"alice", "bob", "carol"}
	outs := make([]*syncBuffer, len(names))
	writers := make([]*io.PipeWriter, len(names))
	errs := make(chan error, len(names))
	for i, name := range names {
		outs[i] = &syncBuffer{ch: make(chan struct{}, 1)}
		var r *io.PipeReader
		r, writers[i] = io.Pipe()
		go func() { errs <- chat.Member(ctx, addr, name, r, outs[i]) }()
	}
	for _, o := range outs { // everyone has joined before anyone talks
		for !strings.Contains(o.String(), "[joined]") {
			<-o.ch
		}
	}
	for round := 1; round <= 2; round++ {
		for i, name := range names {
			_, err := io.WriteString(writers[i], name+" says "+string(rune('0'+round))+"\n")
			require.NoError(t, err)
		}
	}
	for _, o := range outs { // everyone has seen all six lines
		for strings.Count(o.String(), " says ") < 6 {
			<-o.ch
		}
	}
	for _, w := range writers {
		w.Close()
	}
	for range names {
		require.NoError(t, <-errs)
	}
	for _, o := range outs {
		got := o.String()
		for _, name := range names {
			first := strings.Index(got, name+": "+name+" says 1")
			second := strings.Index(got, name+": "+name+" says 2")
			assert.True(t, first >= 0 && second > first, "%q in %q", name, got)
		}
	}
	cancel()
	require.NoError(t, <-served)
}
