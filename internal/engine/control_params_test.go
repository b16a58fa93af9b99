package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/internal/engine"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A control notification whose params are not exactly one value is
// ignored: $ferry.drained [] was taken for [0] and failed every call
// still waiting as not executed, and $ferry.cancel [] canceled call 0.
// The calls go on; a well-formed drained still counts.
func TestControlNeedsOneParam(t *testing.T) {
	c, p := start(t, engine.Options{FerryPeer: true})
	var got int
	call := c.Go(context.Background(), "T.Double", 2, &got)
	m := p.read()
	require.Equal(t, "T.Double", string(m.Method))
	p.send(notification(wire.MethodDrained, params()), notification(wire.MethodDrained, params(0, 1)),
		notification(wire.MethodCancel, params()))
	// A request after them: once it is answered, the notifications
	// before it have been handled.
	var pong int
	ping := c.Go(context.Background(), "T.Ping", 1, &pong)
	m2 := p.read()
	p.send(response(m2.ID, params(7)[1:]))
	select {
	case <-ping.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the second call was not answered")
	}
	select {
	case <-call.Done():
		t.Fatalf("a malformed $ferry.drained ended the call: %v", call.Err())
	default:
	}
	p.send(response(m.ID, params(4)[1:]))
	select {
	case <-call.Done():
		require.NoError(t, call.Err())
		assert.Equal(t, 4, got)
	case <-time.After(5 * time.Second):
		t.Fatal("the call was not answered")
	}
}
