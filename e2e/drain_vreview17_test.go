package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview17DeafPartialOpeningHoldsNoOtherDrain: server.Shutdown's "a
// peer that does not acknowledge the go-away (it answers no ping) holds up
// its own connection only, until ctx ends", and PROTOCOL.md 4, "Going
// away", step 3: "a peer that does not answer holds up its own
// connection's drain only" and "part of a message is no call in
// progress: it is not waited for". A raw session that sent half of a
// streaming call's opening request and then reads nothing held every other
// connection's close (a bare one here) until ctx ended, and made Shutdown
// return ctx's error though no handler ran.
func TestVreview17DeafPartialOpeningHoldsNoOtherDrain(t *testing.T) {
	s := server.New()
	require.NoError(t, server.Handle(s, "V17.Add", func(_ context.Context, args *[]int) (*int, error) {
		n := 0
		for _, x := range *args {
			n += x
		}
		return &n, nil
	}))
	addr := listen(t, s)
	deaf := helloRaw(t, addr)
	opening := streamOpening("V17.Hold")
	deaf.write(yamuxFrame(1, 1, 3, 0), dataFrame(3, 0, opening[:len(opening)/2]))
	// The server accepted the stream (its acknowledgement): its setup is
	// under way. From now on the session reads nothing, answering no ping.
	deaf.frameWhere(func(f yamuxFrameSeen) bool { return f.stream == 3 && f.flags&2 != 0 })

	bare := dialRaw(t, addr)
	require.EqualValues(t, 7, bare.call(request(2, "V17.Add", []any{3, 4})).result)

	const budget = 3 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(ctx) }()
	took, _ := bare.discardUntilClosed(10 * time.Second)
	t.Logf("the bare connection ended %v after Shutdown began", took.Round(time.Millisecond))
	assert.Less(t, took, budget/2, "the bare connection's close waited for the deaf session")
	select {
	case err := <-done:
		t.Logf("Shutdown returned %v after %v", err, time.Since(start).Round(time.Millisecond))
		assert.NoError(t, err, "no handler ran: no call was cut off")
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return")
	}
}
