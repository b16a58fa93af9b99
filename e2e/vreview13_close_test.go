package e2e_test

import (
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview13ClientCloseEndsStreams: "Close ends the connection. Calls
// in flight fail at once with an error wrapping ferry.ErrClosed": a
// streaming call in flight is one, whether its Recv waits or comes after.
func TestVreview13ClientCloseEndsStreams(t *testing.T) {
	s := streamServer(t)
	c := dialTCP(t, s)
	ctx := t.Context()
	st, err := c.NewStream(ctx, "Num.Double")
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.Send(&num{1}))
	var m num
	require.NoError(t, st.Recv(&m))
	st2, err := client.OpenBidi[num, num](ctx, c, "Num.Double")
	require.NoError(t, err)
	defer st2.Close()
	waiting := make(chan error, 1)
	go func() { _, err := st2.Recv(); waiting <- err }()
	require.NoError(t, c.Close())
	select {
	case err := <-waiting:
		assert.ErrorIs(t, err, ferry.ErrClosed, "a waiting Recv: %v", err)
		assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err), "%v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Recv still waits after Close")
	}
	err = st.Recv(&m)
	assert.ErrorIs(t, err, ferry.ErrClosed, "a later Recv: %v", err)
	err = st.Send(&num{2})
	assert.ErrorIs(t, err, ferry.ErrClosed, "a later Send: %v", err)
}
