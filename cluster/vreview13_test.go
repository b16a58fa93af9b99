package cluster_test

import (
	"io"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview13StreamMessageThatDoesNotFitKeepsTheCall checks that a
// cluster stream keeps client.Stream.Recv's contract ("A message that does
// not decode into v is dropped with CodeInternal ..., and the call goes
// on"): the cluster doc fails a stream to its caller only when it is
// broken, and a message the caller's type cannot hold breaks nothing.
func TestVreview13StreamMessageThatDoesNotFitKeepsTheCall(t *testing.T) {
	n := startStreamNode(t, "a", false)
	c := streamCluster(t, []*streamNode{n})

	st, err := c.NewStream(t.Context(), "Svc.Chat")
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.Send(&tagged{Text: "one"}))
	var wrong int
	err = st.Recv(&wrong)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
	require.NoError(t, st.Send(&tagged{Text: "two"}), "the call goes on")
	var m tagged
	require.NoError(t, st.Recv(&m), "the call goes on")
	assert.Equal(t, tagged{Text: "two", Node: "a"}, m)
	require.NoError(t, st.CloseSend())
	assert.Equal(t, io.EOF, st.Recv(&m))
	assert.Equal(t, int64(0), c.StreamStats().Failed, "no stream failed")
}
