package e2e_test

import (
	"context"
	"io"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview13ReplyThatDoesNotFitSameCodeOnAStream checks the Stream doc
// ("Errors follow the unary calls' contract (the same code means the same
// thing)") against PROTOCOL.md 2.1 ("A Ferry caller fails a reply that does
// not fit with internal (the call ran: not flagged)"): a message the handler
// sent that does not decode into the caller's type is the same failure as a
// unary reply that does not, and gets the same code from Recv, typed or
// not, and from Result; the stream goes on. A handler's Recv of a caller's
// message that does not fit is an argument refused: invalid_argument.
func TestVreview13ReplyThatDoesNotFitSameCodeOnAStream(t *testing.T) {
	s := streamServer(t)
	require.NoError(t, server.Handle(s, "V13.Word", func(ctx context.Context, _ *struct{}) (*string, error) {
		w := "seven"
		return &w, nil
	}))
	require.NoError(t, s.HandleStream("V13.Words", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		var n int
		err := st.Recv(&n) // the caller sends a word: an argument that does not fit
		if ferry.CodeOf(err) != ferry.CodeInvalidArgument {
			return nil, ferry.Errorf(ferry.CodeAborted, "handler's Recv: want invalid_argument, got %v", err)
		}
		if err := st.Send("seven"); err != nil {
			return nil, err
		}
		if err := st.Send(8); err != nil {
			return nil, err
		}
		if err := st.Recv(nil); err != io.EOF {
			return nil, err
		}
		return "done", nil
	}))
	c := dialTCP(t, s)

	var n int
	unary := c.Call(t.Context(), "V13.Word", nil, &n)
	require.Error(t, unary)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(unary), "unary: %v", unary)
	assert.False(t, ferry.NotExecuted(unary))

	st, err := c.NewStream(t.Context(), "V13.Words")
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.Send("a word"))
	err = st.Recv(&n)
	assert.Equal(t, ferry.CodeOf(unary), ferry.CodeOf(err), "Recv of a message that does not fit: %v", err)
	assert.False(t, ferry.NotExecuted(err))
	assert.Equal(t, `ferry: internal: cannot decode the result into *int: want an integer, got "seven"`, unary.Error())
	assert.Equal(t, `ferry: internal: cannot decode the message into *int: want an integer, got "seven"`, err.Error(), "one \"ferry:\" prefix")
	require.NoError(t, st.Recv(&n), "the call goes on")
	assert.Equal(t, 8, n)
	require.NoError(t, st.CloseSend())
	require.Equal(t, io.EOF, st.Recv(&n))
	err = st.Result(&n)
	assert.Equal(t, ferry.CodeOf(unary), ferry.CodeOf(err), "Result that does not fit: %v", err)

	typed, err := client.OpenServerStream[num, struct{ N string }](t.Context(), c, "Num.Count", &num{2})
	require.NoError(t, err)
	defer typed.Close()
	_, err = typed.Recv()
	assert.Equal(t, ferry.CodeOf(unary), ferry.CodeOf(err), "typed Recv: %v", err)
}

// TestVreview13PeerStreamReplyThatDoesNotFit: the same holds with the roles
// swapped (PROTOCOL.md 6, "Either side opens"): a server that opens a
// stream to its client's handler and reads a message that does not fit
// gets internal, and the client's handler reading a message that does not
// fit gets invalid_argument, which reaches the server as the status.
func TestVreview13PeerStreamReplyThatDoesNotFit(t *testing.T) {
	s, peers := peerServer(t)
	c := dialTCP(t, s)
	clientFeeds(t, c)
	p := <-peers

	st, err := client.OpenServerStream[num, struct{ N string }](t.Context(), p, "Feed.Live", &num{2})
	require.NoError(t, err)
	defer st.Close()
	_, err = st.Recv()
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "server's Recv: %v", err)
	_, err = st.Recv()
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "the call goes on: the second message: %v", err)
	_, err = st.Recv()
	assert.Equal(t, io.EOF, err)

	bidi, err := client.OpenBidi[struct{ N string }, num](t.Context(), p, "Feed.Double")
	require.NoError(t, err)
	defer bidi.Close()
	require.NoError(t, bidi.Send(&struct{ N string }{"x"}))
	_, err = bidi.Recv()
	assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "the client handler's refusal: %v", err)
}
