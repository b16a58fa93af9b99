package otel_test

import (
	"io"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview13DroppedMessageKeepsTheSpan: a message the caller's Recv
// drops (it does not decode: ferry.ErrDropped) leaves the stream usable,
// so the client span goes on and ends, OK, with the stream.
func TestVreview13DroppedMessageKeepsTheSpan(t *testing.T) {
	tel := newTelemetry(t)
	c, _ := streamPair(t, tel)
	st, err := c.NewStream(t.Context(), "Echo.Chat")
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.Send("a"))
	var n int
	err = st.Recv(&n)
	require.ErrorIs(t, err, ferry.ErrDropped)
	require.NoError(t, st.Send("b"))
	var s string
	require.NoError(t, st.Recv(&s), "the stream goes on")
	assert.Equal(t, "b", s)
	require.NoError(t, st.CloseSend())
	require.Equal(t, io.EOF, st.Recv(&s))
	spans := tel.spans.Ended()
	var client []string
	for _, sp := range spans {
		if sp.SpanKind().String() == "client" {
			client = append(client, attrs(sp.Attributes())["rpc.response.status_code"])
		}
	}
	assert.Equal(t, []string{"OK"}, client, "one client span, ended with the stream")
}
