package e2e_test

import (
	"fmt"
	"io"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview13MetadataBoundsSameOnAStream: metadata past 1,024 pairs
// (ferry.Metadata's doc) is refused with invalid_argument, not executed,
// whether the call is unary or a stream, and 1,024 pairs pass both.
func TestVreview13MetadataBoundsSameOnAStream(t *testing.T) {
	c := dialTCP(t, streamServer(t))
	md := func(n int) ferry.Metadata {
		m := ferry.Metadata{}
		for i := range n {
			m[fmt.Sprintf("k%d", i)] = "v"
		}
		return m
	}
	stream := func(m ferry.Metadata) error {
		st, err := client.OpenBidi[num, num](ferry.WithOutgoingMetadata(t.Context(), m), c, "Num.Double")
		if err != nil {
			return err
		}
		defer st.Close()
		if err := st.Send(&num{1}); err != nil {
			return err
		}
		if _, err := st.Recv(); err != nil {
			return err
		}
		require.NoError(t, st.CloseSend())
		if _, err := st.Recv(); err != io.EOF {
			return err
		}
		return nil
	}
	ok := md(1024)
	require.NoError(t, c.Call(ferry.WithOutgoingMetadata(t.Context(), ok), "Arith.Add", client.Params{1, 2}, nil))
	require.NoError(t, stream(ok))
	bad := md(1025)
	unary := c.Call(ferry.WithOutgoingMetadata(t.Context(), bad), "Arith.Add", client.Params{1, 2}, nil)
	streamed := stream(bad)
	for name, err := range map[string]error{"unary": unary, "stream": streamed} {
		assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "%s: %v", name, err)
		assert.True(t, ferry.NotExecuted(err), "%s: %v", name, err)
	}
}
