package debug_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/debug"
)

// Streams refused before a handler runs (an unknown method, a unary
// method opened as a stream) are counted like refused unary calls.
func TestStatsCountsRefusedStreams(t *testing.T) {
	f := start(t)
	for _, method := range []string{"No.Such", "Arith.Add"} {
		bs, err := client.OpenBidi[string, string](t.Context(), f.c, method)
		if err == nil {
			_, err = bs.Recv()
			bs.Close()
		}
		require.Error(t, err, method)
		assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err), method)
	}
	snap := f.st.Snapshot(f.srv)
	assert.Equal(t, map[string]uint64{"unimplemented": 1}, find(t, snap, debug.Unregistered).RefusedCodes)
	add := find(t, snap, "Arith.Add")
	assert.Equal(t, uint64(1), add.Refused)
	assert.Equal(t, map[string]uint64{"unimplemented": 1}, add.RefusedCodes)
}
