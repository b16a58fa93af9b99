package e2e_test

import (
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/health"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview13HealthOnTheWire checks health's doc against a plain
// MessagePack-RPC client: the argument is {"service": name} (or nothing:
// the whole server), the result {"status": s}, a name never set is
// UNKNOWN; arguments that do not fit are refused as for any method.
func TestVreview13HealthOnTheWire(t *testing.T) {
	s := newServer(t)
	hs := health.NewServer()
	require.NoError(t, hs.Register(s))
	hs.SetStatus("Orders", health.NotServing)
	c := dialTCP(t, s, client.WithPlainMsgpackRPC())
	ctx := t.Context()
	for _, tc := range []struct {
		args any
		want string
	}{
		{nil, "SERVING"},
		{map[string]string{"service": ""}, "SERVING"},
		{map[string]string{"service": "Orders"}, "NOT_SERVING"},
		{"Orders", "NOT_SERVING"},
		{map[string]string{"service": "Nope"}, "UNKNOWN"},
	} {
		var r map[string]any
		require.NoError(t, c.Call(ctx, health.Method, tc.args, &r), "%v", tc.args)
		assert.Equal(t, map[string]any{"status": tc.want}, r, "%v", tc.args)
	}
	for _, args := range []any{
		map[string]any{"service": 5},
		map[string]any{"svc": "Orders"},
		client.Params{"Orders", "extra"},
	} {
		var fe *ferry.Error
		err := c.Call(ctx, health.Method, args, nil)
		require.ErrorAs(t, err, &fe, "%v", args)
		assert.Contains(t, fe.Message, "Health.Check: ", "%v", args)
	}
	hs.Shutdown()
	hs.SetStatus("", health.Serving)
	st, err := health.Check(ctx, dialTCP(t, s), "")
	require.NoError(t, err)
	assert.Equal(t, health.NotServing, st, "a server going away stays NOT_SERVING")
}
