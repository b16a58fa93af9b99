package health_test

import (
	"net"
	"testing"

	"github.com/ferryrpc/ferry/health"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// TestVaudit18WireCarriesOnlyTheThreeStatuses checks the package doc's
// "its result a map {"status": s} with s one of "SERVING", "NOT_SERVING"
// or "UNKNOWN"" for a plain MessagePack-RPC client, whatever Status value
// SetStatus was given: a misspelt one ("serving") or any other string
// reached the wire as it was, a status such a client cannot know, and
// Status reported it too. It is UNKNOWN (not serving), as Check already
// read it.
func TestVaudit18WireCarriesOnlyTheThreeStatuses(t *testing.T) {
	srv := server.New()
	hs := health.NewServer()
	require.NoError(t, hs.Register(srv))
	hs.SetStatus("Orders", "serving")
	hs.SetStatus("Billing", health.Status("DEGRADED"))
	hs.SetStatus("Stock", health.NotServing)
	assert.Equal(t, health.Unknown, hs.Status("Orders"))
	assert.Equal(t, health.Unknown, hs.Status("Billing"))

	nc, err := net.Dial("tcp", ferrytest.Serve(t, srv))
	require.NoError(t, err)
	defer nc.Close()
	dec := msgpack.NewDecoder(nc)
	for i, tc := range []struct{ service, want string }{
		{"Orders", "UNKNOWN"},
		{"Billing", "UNKNOWN"},
		{"Stock", "NOT_SERVING"},
		{"", "SERVING"},
	} {
		req, err := msgpack.Marshal([]any{0, i, health.Method, []any{map[string]any{"service": tc.service}}})
		require.NoError(t, err)
		_, err = nc.Write(req)
		require.NoError(t, err)
		var resp []any
		require.NoError(t, dec.Decode(&resp))
		require.Len(t, resp, 4)
		assert.Nil(t, resp[2], tc.service)
		assert.Equal(t, map[string]any{"status": tc.want}, resp[3], tc.service)
	}
}
