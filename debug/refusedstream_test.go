package debug_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/debug"
)

// Streams refused before a handler runs (an unknown method, a unary
// method opened as a stream, metadata past the bounds) are counted like
// refused unary calls.
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
	// Metadata past the bounds (1,024 pairs): refused before the method
	// is looked at.
	md := ferry.Metadata{}
	for i := range 1100 {
		md[fmt.Sprint("k", i)] = "v"
	}
	bs, err := client.OpenBidi[string, string](ferry.WithOutgoingMetadata(t.Context(), md), f.c, "Arith.Add")
	if err == nil {
		_, err = bs.Recv()
		bs.Close()
	}
	assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "%v", err)

	snap := f.st.Snapshot(f.srv)
	assert.Equal(t, map[string]uint64{"unimplemented": 1}, find(t, snap, debug.Unregistered).RefusedCodes)
	add := find(t, snap, "Arith.Add")
	assert.Equal(t, uint64(2), add.Refused)
	assert.Equal(t, map[string]uint64{"unimplemented": 1, "invalid_argument": 1}, add.RefusedCodes)
}
