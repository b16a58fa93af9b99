package e2e_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview13StreamStatusLikeUnaryResponse: "The final status is encoded
// exactly as a unary call's response" (PROTOCOL.md 6): a result past the
// MaxMessageSize is replaced by resource_exhausted (the handler ran), an
// error's message is cut to 64 KiB ending with "…", and details past the
// metadata bounds are dropped while the code stays; a unary call and a
// stream give the same.
func TestVreview13StreamStatusLikeUnaryResponse(t *testing.T) {
	s := newServer(t)
	huge := strings.Repeat("x", 5<<20)
	long := strings.Repeat("y", 100<<10)
	fail := func() error {
		e := ferry.NewError(ferry.CodeAborted, long)
		for i := range 2000 {
			e = e.WithDetail(strings.Repeat("k", 8)+string(rune('a'+i%26))+strings.Repeat("z", i%7)+string(rune(i)), "v")
		}
		return e
	}
	require.NoError(t, server.Handle(s, "V13.Huge", func(ctx context.Context, _ *struct{}) (*string, error) { return &huge, nil }))
	require.NoError(t, server.Handle(s, "V13.Fail", func(ctx context.Context, _ *struct{}) (*string, error) { return nil, fail() }))
	require.NoError(t, s.HandleStream("V13.HugeStream", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) { return huge, nil }))
	require.NoError(t, s.HandleStream("V13.FailStream", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) { return nil, fail() }))
	c := dialTCP(t, s)
	ctx := t.Context()
	stream := func(method string) error {
		st, err := c.NewStream(ctx, method)
		require.NoError(t, err)
		defer st.Close()
		require.NoError(t, st.CloseSend())
		err = st.Recv(nil)
		if err == io.EOF {
			var r string
			err = st.Result(&r)
		}
		return err
	}
	for _, pair := range [][2]string{{"V13.Huge", "V13.HugeStream"}, {"V13.Fail", "V13.FailStream"}} {
		unary := c.Call(ctx, pair[0], nil, new(string))
		streamed := stream(pair[1])
		var fu, fs *ferry.Error
		require.ErrorAs(t, unary, &fu, pair[0])
		require.ErrorAs(t, streamed, &fs, pair[1])
		assert.Equal(t, fu.Code, fs.Code, "%s: %v / %v", pair[0], unary, streamed)
		assert.Equal(t, ferry.NotExecuted(unary), ferry.NotExecuted(streamed), pair[0])
		assert.Equal(t, len(fu.Details), len(fs.Details), pair[0])
		if pair[0] == "V13.Fail" {
			assert.Equal(t, fu.Message, fs.Message)
		} else {
			assert.Equal(t, strings.Replace(fu.Message, "reply", "result", 1), fs.Message)
		}
	}
	err := c.Call(ctx, "V13.Huge", nil, new(string))
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%v", err)
	var fe *ferry.Error
	require.ErrorAs(t, c.Call(ctx, "V13.Fail", nil, nil), &fe)
	assert.Equal(t, ferry.CodeAborted, fe.Code)
	assert.True(t, strings.HasSuffix(fe.Message, "…"))
	assert.LessOrEqual(t, len(fe.Message), 64<<10)
	assert.Empty(t, fe.Details, "details past 1,024 pairs are dropped")
}
