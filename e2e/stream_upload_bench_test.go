package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/require"
)

// uploadBatch is a large structured message: many mid-sized records.
type uploadBatch struct {
	Records []benchMsg
}

// countUploads is a client-streaming handler that receives every message
// and returns the sum of size over them.
func countUploads[T any](size func(*T) int) func(context.Context, func() (*T, error)) (*int, error) {
	return func(_ context.Context, recv func() (*T, error)) (*int, error) {
		n := 0
		for {
			m, err := recv()
			if err == io.EOF {
				return &n, nil
			}
			if err != nil {
				return nil, err
			}
			n += size(m)
		}
	}
}

// BenchmarkStreamUpload measures a client stream of large messages over
// loopback TCP, sent one after another on one stream: 1 MiB byte slices
// (encoding is a copy) and batches of 256 records of about 500 bytes
// (encoding walks every field). Encoding a message and writing the one
// before it may overlap, or not.
func BenchmarkStreamUpload(b *testing.B) {
	s := server.New()
	require.NoError(b, server.HandleClientStream(s, "Bench.UploadBytes", countUploads(func(m *[]byte) int { return len(*m) })))
	require.NoError(b, server.HandleClientStream(s, "Bench.UploadBatches", countUploads(func(m *uploadBatch) int { return len(m.Records) })))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	go func() { _ = s.Serve(l) }()
	c, err := client.Dial(context.Background(), l.Addr().String())
	require.NoError(b, err)
	defer func() { c.Close(); s.Close() }()

	payload := make([]byte, 1<<20)
	batch := &uploadBatch{Records: make([]benchMsg, 256)}
	for i := range batch.Records {
		batch.Records[i] = *newBenchMsg()
	}
	b.Run("bytes=1MiB", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		st, err := client.OpenClientStream[[]byte, int](context.Background(), c, "Bench.UploadBytes")
		require.NoError(b, err)
		for range b.N {
			require.NoError(b, st.Send(&payload))
		}
		n, err := st.CloseAndRecv()
		require.NoError(b, err)
		require.Equal(b, b.N*len(payload), *n)
	})
	b.Run(fmt.Sprintf("batch=%d", len(batch.Records)), func(b *testing.B) {
		b.SetBytes(int64(len(batch.Records)) * 500)
		st, err := client.OpenClientStream[uploadBatch, int](context.Background(), c, "Bench.UploadBatches")
		require.NoError(b, err)
		for range b.N {
			require.NoError(b, st.Send(batch))
		}
		n, err := st.CloseAndRecv()
		require.NoError(b, err)
		require.Equal(b, b.N*len(batch.Records), *n)
	})
}
