package e2e

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// malformedRaws are codec.Raw values that are not one msgpack value.
func malformedRaws() map[string]codec.Raw {
	return map[string]codec.Raw{
		"reserved byte":    {0xc1},
		"truncated array":  {0x92, 0x01},
		"two values":       {0x01, 0x02},
		"long, truncated":  append([]byte{0xdb, 0xff, 0xff, 0xff, 0xff}, bytes.Repeat([]byte{'x'}, 70<<10)...),
		"long, two values": append(append([]byte{0xc6, 0x00, 0x01, 0x18, 0x00}, bytes.Repeat([]byte{'x'}, 70<<10)...), 0x01),
	}
}

// TestVaudit18MalformedRawNeverBreaksTheConnection: "Raw carries a msgpack
// value through unchanged", and MaxMessageSize's and MaxDepth's docs
// promise that one message never ends the stream every unary call shares:
// a reply that cannot be sent is replaced by an error. A codec.Raw of a
// few malformed bytes (a reserved byte, a truncated array, two values)
// went out as it was, since only long values were scanned: the client
// took the response for a broken stream and its whole connection died,
// failing the calls beside it ("connection lost (malformed msgpack:
// reserved byte 0xc1)"; a truncated one after the 10 s partial message
// timeout). The same held for such Raw arguments, which broke the
// server's reading of the call stream. Now such a reply is CodeInternal
// and such arguments fail at the caller, not executed; a long malformed
// Raw, refused before as "nests deeper than 64 levels", says what it is.
func TestVaudit18MalformedRawNeverBreaksTheConnection(t *testing.T) {
	s := server.New()
	raws := malformedRaws()
	require.NoError(t, server.Handle(s, "Raw.Reply", func(_ context.Context, which *string) (*codec.Raw, error) {
		r := raws[*which]
		return &r, nil
	}))
	require.NoError(t, server.Handle(s, "Raw.Take", func(_ context.Context, r *codec.Raw) (*int, error) {
		n := len(*r)
		return &n, nil
	}))
	release := make(chan struct{})
	require.NoError(t, server.Handle(s, "Raw.Wait", func(context.Context, *int) (*int, error) {
		<-release
		one := 1
		return &one, nil
	}))
	c, _ := ferrytest.ServeAndDial(t, s)

	// A call in flight beside the bad ones must survive them.
	var wg sync.WaitGroup
	var beside error
	wg.Go(func() {
		var n int
		beside = c.Call(t.Context(), "Raw.Wait", 0, &n)
	})

	for name, raw := range raws {
		var r codec.Raw
		err := c.Call(t.Context(), "Raw.Reply", name, &r)
		require.Error(t, err, name)
		assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%s: %v", name, err)
		assert.Contains(t, err.Error(), "not one msgpack value", name)

		var n int
		err = c.Call(t.Context(), "Raw.Take", raw, &n)
		require.Error(t, err, name)
		assert.True(t, ferry.NotExecuted(err), "%s: %v", name, err)
		err = c.Call(t.Context(), "Raw.Take", client.Params{raw}, &n)
		require.Error(t, err, name)
		assert.True(t, ferry.NotExecuted(err), "%s as params: %v", name, err)

		require.NoError(t, c.Call(t.Context(), "Raw.Take", codec.Raw{0x01}, &n), "%s: the connection goes on", name)
		assert.Equal(t, 1, n)
	}
	close(release)
	wg.Wait()
	assert.NoError(t, beside, "the call in flight beside them")
}
