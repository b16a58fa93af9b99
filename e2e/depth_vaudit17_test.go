package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/codec"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// v17Deep is a value nested n arrays deep: [[[…[1]…]]].
func v17Deep(n int) codec.Raw {
	b := make([]byte, 0, n+1)
	for range n {
		b = append(b, 0x91)
	}
	return append(b, 0x01)
}

// v17DeepBin is a bin of size bytes inside n arrays: large enough to go
// out from the caller's own slice.
func v17DeepBin(n, size int) codec.Raw {
	b := v17Deep(n)
	return append(append(b[:n], binHeader(size)...), make([]byte, size)...)
}

// v17DeepAny is v17Deep as Go values.
func v17DeepAny(n int) any {
	var v any = 1
	for range n {
		v = []any{v}
	}
	return v
}

// v17Nest answers Nest.Deep [n] with a value nested n arrays deep.
type v17Nest struct{}

func (v17Nest) Deep(_ context.Context, n int, reply *codec.Raw) error {
	*reply = v17Deep(n)
	return nil
}

// TestVaudit17DeepArgumentFailsAlone: a request nested deeper than
// MaxDepth allows (PROTOCOL.md 5: an argument may nest 62 arrays or maps
// deep) went out, and the server closed the call stream every unary call
// shares: that call, and every call beside it, failed as unavailable,
// "may or may not have executed", as did the next one. Like a request
// past MaxMessageSize, it now fails at the caller, resource_exhausted and
// not executed, and a reply nested too deep is replaced by that error (the
// handler ran), over a session as over bare MessagePack-RPC.
func TestVaudit17DeepArgumentFailsAlone(t *testing.T) {
	s := newServer(t)
	require.NoError(t, s.RegisterName("Nest", v17Nest{}))
	eachConduit(t, func(t *testing.T, tr conduit) {
		c := tr.dial(t, s)
		slow := c.Go(t.Context(), "Echo.Sleep", int64(200), new(bool))
		for _, deep := range []any{v17Deep(63), v17DeepAny(63), client.Params{v17Deep(63)}, v17Deep(70 << 10), v17DeepBin(70, 100<<10)} {
			var r codec.Raw
			err := c.Call(t.Context(), "Echo.Echo", deep, &r)
			require.Error(t, err)
			assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%v", err)
			assert.True(t, ferry.NotExecuted(err), "%v", err)
			assert.Contains(t, err.Error(), "Echo.Echo: the request nests deeper than the 64 levels a message may have")
			assert.Error(t, c.Notify(t.Context(), "Echo.Echo", deep))
		}
		select {
		case <-slow.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the slow call did not end")
		}
		assert.NoError(t, slow.Err(), "a call beside them")

		// At the bound: 62 levels in the argument, and back.
		for _, ok := range []any{v17Deep(62), v17DeepAny(62), client.Params{v17Deep(62)}} {
			var r codec.Raw
			require.NoError(t, c.Call(t.Context(), "Echo.Echo", ok, &r))
			assert.Equal(t, []byte(v17Deep(62)), []byte(r))
		}

		var r codec.Raw
		require.NoError(t, c.Call(t.Context(), "Nest.Deep", 63, &r))
		assert.Equal(t, []byte(v17Deep(63)), []byte(r), "a result may nest 63 deep")
		err := c.Call(t.Context(), "Nest.Deep", 64, &r)
		assert.Contains(t, err.Error(), "the reply nests deeper than the 64 levels a message may have")
		assert.False(t, ferry.NotExecuted(err), "the handler ran")
		if !tr.plain { // a plain client gets the message alone (code unknown)
			assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%v", err)
		}
		require.NoError(t, c.Call(t.Context(), "Echo.Echo", v17Deep(3), &r), "a call after them")
	})
}
