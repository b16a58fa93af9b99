package e2e_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// slowMsg is a message whose encoding waits until release is closed, as
// a large message's takes long.
type slowMsg struct{ release chan struct{} }

func (m slowMsg) MarshalMsgpack() ([]byte, error) {
	<-m.release
	return msgpack.Marshal("done")
}

// TestStreamOpeningGoesAheadOfTheFirstMessage: a streaming call's
// opening request reaches the server while its first message is still
// being encoded, so the handler starts then. It waited for the encoding
// (the message was framed under the stream writer's lock, which the
// flusher needed to send the opening queued before it): 1 MiB of small
// maps took 1.7 s to encode under -race, and a server closes a stream
// whose opening has not come within its SniffTimeout (10 s), which on a
// loaded machine failed an upload as "connection lost".
func TestStreamOpeningGoesAheadOfTheFirstMessage(t *testing.T) {
	eachConduit(t, func(t *testing.T, tr conduit) {
		if tr.plain {
			t.Skip("bare MessagePack-RPC has no streams")
		}
		s := newServer(t)
		started := make(chan struct{})
		require.NoError(t, server.HandleClientStream(s, "Blob.Upload", func(_ context.Context, recv func() (*string, error)) (*string, error) {
			close(started)
			return recv()
		}))
		c := tr.dial(t, s)
		st, err := c.NewStream(t.Context(), "Blob.Upload")
		require.NoError(t, err)
		defer st.Close()
		release := make(chan struct{})
		sent := make(chan error, 1)
		go func() { sent <- st.Send(slowMsg{release}) }()
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Error("the handler did not start while the first message was being encoded")
		}
		close(release)
		require.NoError(t, <-sent)
		require.NoError(t, st.CloseSend())
		require.ErrorIs(t, st.Recv(nil), io.EOF)
		var got string
		require.NoError(t, st.Result(&got))
		assert.Equal(t, "done", got)
	})
}
