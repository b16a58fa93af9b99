package flush

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVReview9BeginContextRaces races waiters in BeginContext against
// their contexts' end, room appearing and (failing) the write under way
// failing: every waiter returns (no wake-up lost), with its context's
// error only once that ended, the writer's error only once that is
// latched; a waiter that got the lock queues one byte, which is written
// once, and one that did not queues nothing.
func TestVReview9BeginContextRaces(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 9))
	deadline := time.Now().Add(time.Second)
	rounds := 0
	for ; rounds < 500 && time.Now().Before(deadline); rounds++ {
		beginContextRound(t, r, r.IntN(3) == 0)
		if t.Failed() {
			t.Fatalf("round %d failed", rounds)
		}
	}
	t.Logf("%d rounds", rounds)
}

var errVR9 = errors.New("test: the write failed")

func beginContextRound(t *testing.T, r *rand.Rand, failing bool) {
	w, dst := fullWriter(t)
	if failing {
		dst.fail = func(int) error { return errVR9 }
	}
	const k = 16
	type result struct {
		ok  bool
		err error
	}
	results := make([]result, k)
	ctxs := make([]context.Context, k)
	cancels := make([]context.CancelFunc, k)
	var wg sync.WaitGroup
	for i := range k {
		ctxs[i], cancels[i] = context.WithCancel(context.Background())
		defer cancels[i]()
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := w.BeginContext(ctxs[i])
			if err != nil {
				results[i].err = err
				return
			}
			results[i].ok = true
			w.End(append(b, byte(0x80+i)))
		}()
	}
	begin := make(chan struct{})
	var actors sync.WaitGroup
	act := func(f func()) {
		n := r.IntN(64)
		actors.Add(1)
		go func() {
			defer actors.Done()
			<-begin
			for range n {
				runtime.Gosched()
			}
			f()
		}()
	}
	for i := range k {
		if r.IntN(3) != 0 {
			act(cancels[i])
		}
	}
	room := r.IntN(2) == 0
	if room {
		act(func() { close(dst.gate) })
	}
	close(begin)
	actors.Wait()
	if !room {
		for _, cancel := range cancels {
			cancel()
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("a BeginContext still waits after room was made (%v) or its context ended", room)
	}
	if !room {
		close(dst.gate)
	}
	requireUnlocked(t, w)
	closeErr := w.Close()
	got := dst.bytes()
	oks := 0
	for i, res := range results {
		mark := []byte{byte(0x80 + i)}
		switch {
		case res.ok:
			assert.True(t, room, "waiter %d got room while none was made", i)
			oks++
			if !failing {
				assert.Equal(t, 1, bytes.Count(got, mark), "waiter %d queued its byte: written once", i)
			}
		case errors.Is(res.err, context.Canceled):
			assert.ErrorIs(t, ctxs[i].Err(), context.Canceled)
			assert.Zero(t, bytes.Count(got, mark), "waiter %d failed but its byte went out", i)
		default:
			assert.True(t, failing, "waiter %d: %v", i, res.err)
			assert.ErrorIs(t, res.err, errVR9, "waiter %d", i)
		}
	}
	if !failing {
		require.NoError(t, closeErr)
		assert.Len(t, got, 510+oks)
	}
}
