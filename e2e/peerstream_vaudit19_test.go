package e2e_test

import (
	"context"
	"io"
	"sync/atomic"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// v19CountingClientStream counts the messages a calling side's stream
// interceptor sees pass.
type v19CountingClientStream struct {
	ferry.ClientStream
	sent, recvd *atomic.Int64
}

func (s v19CountingClientStream) Send(m any) error {
	err := s.ClientStream.Send(m)
	if err == nil {
		s.sent.Add(1)
	}
	return err
}

func (s v19CountingClientStream) Recv(m any) error {
	err := s.ClientStream.Recv(m)
	if err == nil {
		s.recvd.Add(1)
	}
	return err
}

// v19CountingServerStream is the same on the serving side.
type v19CountingServerStream struct {
	ferry.ServerStream
	sent, recvd *atomic.Int64
}

func (s v19CountingServerStream) Send(m any) error {
	err := s.ServerStream.Send(m)
	if err == nil {
		s.sent.Add(1)
	}
	return err
}

func (s v19CountingServerStream) Recv(m any) error {
	err := s.ServerStream.Recv(m)
	if err == nil {
		s.recvd.Add(1)
	}
	return err
}

// TestVaudit19PeerStreamMessagesThroughInterceptors: on the streams a
// server opens to its client, through the typed openers, each side's
// stream interceptor may wrap the stream "to observe or transform each
// message": every message sent and received passes through the wrappers,
// for bidi, server-streaming and client-streaming calls, none skipped.
func TestVaudit19PeerStreamMessagesThroughInterceptors(t *testing.T) {
	var openSent, openRecvd, servSent, servRecvd atomic.Int64
	s, peers := peerServer(t, server.WithStreamClientInterceptors(func(ctx context.Context, info *ferry.StreamInfo, next ferry.Streamer) (ferry.ClientStream, error) {
		cs, err := next(ctx, info)
		if err != nil {
			return nil, err
		}
		return v19CountingClientStream{cs, &openSent, &openRecvd}, nil
	}))
	c := dialTCP(t, s, client.WithStreamServerInterceptors(func(ctx context.Context, info *ferry.StreamInfo, st ferry.ServerStream, next ferry.StreamHandler) (any, error) {
		return next(ctx, v19CountingServerStream{st, &servSent, &servRecvd})
	}))
	clientFeeds(t, c)
	p := <-peers
	ctx := t.Context()
	const n = 50

	bidi, err := client.OpenBidi[num, num](ctx, p, "Feed.Double")
	require.NoError(t, err)
	for i := 1; i <= n; i++ {
		require.NoError(t, bidi.Send(&num{i}))
		m, err := bidi.Recv()
		require.NoError(t, err)
		require.Equal(t, 2*i, m.N)
	}
	require.NoError(t, bidi.CloseSend())
	_, err = bidi.Recv()
	require.ErrorIs(t, err, io.EOF)

	rd, err := client.OpenServerStream[num, num](ctx, p, "Feed.Live", &num{n})
	require.NoError(t, err)
	for i := 1; i <= n; i++ {
		m, err := rd.Recv()
		require.NoError(t, err)
		require.Equal(t, i, m.N)
	}
	_, err = rd.Recv()
	require.ErrorIs(t, err, io.EOF)

	w, err := client.OpenClientStream[num, num](ctx, p, "Feed.Sum")
	require.NoError(t, err)
	for i := 1; i <= n; i++ {
		require.NoError(t, w.Send(&num{i}))
	}
	sum, err := w.CloseAndRecv()
	require.NoError(t, err)
	assert.Equal(t, n*(n+1)/2, sum.N)

	// Sent: n bidi + 1 request + n client-streaming; received: n bidi +
	// n server-streaming (a client-streaming call's result is no message).
	assert.Equal(t, int64(2*n+1), openSent.Load(), "the opener's wrapper saw every message sent")
	assert.Equal(t, int64(2*n), openRecvd.Load(), "the opener's wrapper saw every message received")
	assert.Equal(t, int64(2*n+1), servRecvd.Load(), "the handler side's wrapper saw every message received")
	assert.Equal(t, int64(2*n), servSent.Load(), "the handler side's wrapper saw every message sent")
}
