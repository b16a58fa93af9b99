package e2e_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit19DrainWithCallsBackInFlight: Server.Shutdown promises that
// every call a Ferry client sent is answered or fails as not executed.
// Here the calls in flight are calls back: a handler waits on its client's
// handler (a call back through its Peer, and a stream back), which, while
// the server drains, calls the server again and has the server call it
// once more; meanwhile the client keeps calling. The relayed call is
// answered, the calls back complete or fail not executed, every call the
// client sent during the drain succeeds or fails not executed, and none
// that failed not executed ran.
func TestVaudit19DrainWithCallsBackInFlight(t *testing.T) {
	s := server.New()
	var ran sync.Map // the IDs of the calls whose handler ran
	require.NoError(t, server.Handle(s, "D.Note", func(ctx context.Context, a *drainArgs) (*uint64, error) {
		ran.Store(a.ID, true)
		return &a.ID, nil
	}))
	inBlock, release := make(chan struct{}), make(chan struct{})
	require.NoError(t, server.Handle(s, "D.Relay", func(ctx context.Context, _ *struct{}) (*string, error) {
		p := server.PeerFromContext(ctx)
		st, err := p.NewStream(ctx, "C.Stream")
		if err != nil {
			return nil, err
		}
		defer st.Close()
		var out string
		if err := p.Call(ctx, "C.Block", nil, &out); err != nil {
			return nil, err
		}
		var again string
		err = p.Call(ctx, "C.Echo", "again", &again) // during the drain
		if err != nil && !ferry.NotExecuted(err) {
			return nil, err
		}
		if err := st.CloseSend(); err != nil {
			return nil, err
		}
		var n uint64
		if err := st.Recv(&n); err != nil {
			return nil, err
		}
		out += "+" + again
		return &out, nil
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()

	nested := make(chan error, 1)
	c, err := client.Dial(t.Context(), l.Addr().String(), client.WithHandlers(func(c *client.Client) error {
		if err := client.Handle(c, "C.Echo", func(ctx context.Context, s *string) (*string, error) { return s, nil }); err != nil {
			return err
		}
		if err := client.HandleBidi(c, "C.Stream", func(ctx context.Context, recv func() (*uint64, error), send func(*uint64) error) error {
			<-release
			v := uint64(7)
			return send(&v)
		}); err != nil {
			return err
		}
		return client.Handle(c, "C.Block", func(ctx context.Context, _ *struct{}) (*string, error) {
			close(inBlock)
			<-release
			// The server drains: a call from here fails not executed, or
			// is answered.
			var id uint64
			nested <- client.ConnFromContext(ctx).Call(ctx, "D.Note", &drainArgs{ID: 1 << 40}, &id)
			out := "done"
			return &out, nil
		})
	}))
	require.NoError(t, err)
	defer c.Close()

	relay := c.Go(t.Context(), "D.Relay", nil, new(string))
	select {
	case <-inBlock:
	case <-time.After(5 * time.Second):
		t.Fatal("the call back did not arrive")
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	// A client that keeps calling while the server drains.
	var (
		calls     []*ferry.Call
		nextID    atomic.Uint64
		goingAway = c.GoingAway()
		sawGoAway bool
	)
	for i := 0; i < 2000 && !sawGoAway; i++ {
		id := nextID.Add(1)
		calls = append(calls, c.Go(t.Context(), "D.Note", &drainArgs{ID: id}, new(uint64)))
		select {
		case <-goingAway:
			sawGoAway = true
		default:
		}
	}
	for i := 0; i < 50; i++ { // and after the go-away
		id := nextID.Add(1)
		calls = append(calls, c.Go(t.Context(), "D.Note", &drainArgs{ID: id}, new(uint64)))
	}
	if sawGoAway {
		// A notification after the go-away is not sent: it fails not
		// executed, like a call, rather than being queued to be dropped.
		err := c.Notify(t.Context(), "D.Note", &drainArgs{ID: 1 << 41})
		assert.True(t, ferry.NotExecuted(err), "a notification after the go-away: %v", err)
	}
	close(release)

	require.NoError(t, relay.Wait(), "the relayed call is answered")
	assert.Equal(t, "done+again", *relay.Reply.(*string))
	select {
	case err := <-nested:
		if err != nil {
			assert.True(t, ferry.NotExecuted(err), "a call back's own call during the drain: %v", err)
			_, ok := ran.Load(uint64(1 << 40))
			assert.False(t, ok, "not executed, yet it ran")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the nested call did not end")
	}
	ok, notExec := 0, 0
	for _, call := range calls {
		err := call.Wait()
		id := call.Args.(*drainArgs).ID
		_, didRun := ran.Load(id)
		switch {
		case err == nil:
			ok++
			assert.True(t, didRun, "call %d succeeded, never ran", id)
		case ferry.NotExecuted(err):
			notExec++
			assert.False(t, didRun, "call %d ran, reported not executed: %v", id, err)
		default:
			t.Errorf("call %d: outcome unknown: %v", id, err)
		}
	}
	require.NoError(t, <-shut)
	require.ErrorIs(t, <-served, server.ErrServerClosed)
	t.Logf("%d calls during the drain: %d ok, %d not executed", len(calls), ok, notExec)
}

// TestVaudit19NotifyAfterGoAway: "calls started from then on fail at once
// with CodeUnavailable and ferry.NotExecuted true" (Client.GoingAway)
// holds for Notify, one of the three call styles, with and without an
// interceptor: after the server's go-away a notification was queued, its
// Notify returned nil, and the draining server dropped it unread.
func TestVaudit19NotifyAfterGoAway(t *testing.T) {
	s := server.New()
	notes := make(chan uint64, 4)
	require.NoError(t, server.Handle(s, "D.Note", func(ctx context.Context, a *drainArgs) (*uint64, error) {
		notes <- a.ID
		return &a.ID, nil
	}))
	entered, release := make(chan struct{}), make(chan struct{})
	require.NoError(t, server.Handle(s, "D.Hold", func(ctx context.Context, _ *struct{}) (*int, error) {
		close(entered)
		<-release
		return new(int), nil
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	plain, err := client.Dial(t.Context(), l.Addr().String())
	require.NoError(t, err)
	defer plain.Close()
	seen := make(callRecorder, 4)
	wrapped, err := client.Dial(t.Context(), l.Addr().String(), client.WithInterceptors(seen.intercept))
	require.NoError(t, err)
	defer wrapped.Close()

	hold := plain.Go(t.Context(), "D.Hold", nil, nil)
	<-entered
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	for i, c := range []*client.Client{plain, wrapped} {
		select {
		case <-c.GoingAway():
		case <-time.After(5 * time.Second):
			t.Fatal("no go-away")
		}
		err := c.Notify(t.Context(), "D.Note", &drainArgs{ID: uint64(i)})
		assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%v", err)
		assert.True(t, ferry.NotExecuted(err), "a notification after the go-away: %v", err)
	}
	assert.True(t, seen.take(t, 1)["D.Note"].notExecuted, "the interceptor sees it not executed")
	close(release)
	require.NoError(t, hold.Wait())
	require.NoError(t, <-shut)
	require.ErrorIs(t, <-served, server.ErrServerClosed)
	assert.Empty(t, notes, "no notification ran")
}
