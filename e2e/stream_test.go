package e2e_test

import (
	"context"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type num struct{ N int }

func streamServer(t *testing.T, opts ...server.Option) *server.Server {
	t.Helper()
	s := newServer(t, opts...)
	require.NoError(t, server.HandleBidi(s, "Num.Double", func(ctx context.Context, st *server.BidiStream[num, num]) error {
		for {
			m, err := st.Recv()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := st.Send(&num{2 * m.N}); err != nil {
				return err
			}
		}
	}))
	require.NoError(t, server.HandleServerStream(s, "Num.Count", func(ctx context.Context, to *num, send func(*num) error) error {
		for i := 1; i <= to.N; i++ {
			if err := send(&num{i}); err != nil {
				return err
			}
		}
		if to.N > 100 {
			return ferry.Errorf(ferry.CodeOutOfRange, "counted to %d, too far", to.N)
		}
		return nil
	}))
	require.NoError(t, server.HandleClientStream(s, "Num.Sum", func(ctx context.Context, recv func() (*num, error)) (*num, error) {
		var sum num
		for {
			m, err := recv()
			if err == io.EOF {
				return &sum, nil
			}
			if err != nil {
				return nil, err
			}
			sum.N += m.N
		}
	}))
	return s
}

func TestStreamingKinds(t *testing.T) {
	for _, tr := range conduits[:2] { // streaming needs a session
		t.Run(tr.name, func(t *testing.T) {
			s := streamServer(t)
			c := tr.dial(t, s)
			ctx := t.Context()

			bidi, err := client.OpenBidi[num, num](ctx, c, "Num.Double")
			require.NoError(t, err)
			for i := range 50 {
				require.NoError(t, bidi.Send(&num{i}))
				m, err := bidi.Recv()
				require.NoError(t, err)
				assert.Equal(t, 2*i, m.N)
			}
			require.NoError(t, bidi.CloseSend())
			_, err = bidi.Recv()
			require.Equal(t, io.EOF, err)

			rd, err := client.OpenServerStream[num, num](ctx, c, "Num.Count", &num{200})
			require.NoError(t, err)
			got := 0
			for {
				m, err := rd.Recv()
				if err != nil {
					assert.Equal(t, ferry.CodeOutOfRange, ferry.CodeOf(err), "%v", err)
					break
				}
				got++
				assert.Equal(t, got, m.N)
			}
			assert.Equal(t, 200, got, "every message sent before the error arrives")

			wr, err := client.OpenClientStream[num, num](ctx, c, "Num.Sum")
			require.NoError(t, err)
			for i := 1; i <= 100; i++ {
				require.NoError(t, wr.Send(&num{i}))
			}
			sum, err := wr.CloseAndRecv()
			require.NoError(t, err)
			assert.Equal(t, 5050, sum.N)

			st, err := c.NewStream(ctx, "No.Such")
			require.NoError(t, err)
			err = st.Recv(nil)
			assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err))

			// Unary calls still work on the same connection.
			var r int64
			require.NoError(t, c.Call(ctx, "Arith.Add", map[string]int{"A": 1, "B": 2}, &r))
			assert.Equal(t, int64(3), r)
		})
	}
}

func TestStreamingNeedsASession(t *testing.T) {
	s := streamServer(t)
	c := conduits[2].dial(t, s)
	_, err := c.NewStream(t.Context(), "Num.Double")
	assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err))
	assert.True(t, ferry.NotExecuted(err))
}

func TestStreamMessageLimit(t *testing.T) {
	s := streamServer(t)
	c := dialPipe(t, s)
	st, err := c.NewStream(t.Context(), "Num.Double")
	require.NoError(t, err)
	defer st.Close()
	err = st.Send(make([]byte, 5<<20))
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err))
}

func TestStreamDeadlineAndMetadata(t *testing.T) {
	s := newServer(t)
	require.NoError(t, s.HandleStream("Info.Get", server.ServerStream, func(ctx context.Context, st *server.Stream) (any, error) {
		dl, ok := ctx.Deadline()
		if !ok {
			return nil, errors.New("no deadline")
		}
		if err := st.Send(ferry.IncomingMetadata(ctx)["who"]); err != nil {
			return nil, err
		}
		return time.Until(dl) > 0, nil
	}))
	c := dialTCP(t, s)
	ctx, cancel := context.WithTimeout(ferry.WithOutgoingMetadata(t.Context(), ferry.Metadata{"who": "me"}), 5*time.Second)
	defer cancel()
	st, err := c.NewStream(ctx, "Info.Get")
	require.NoError(t, err)
	var who string
	require.NoError(t, st.Recv(&who))
	assert.Equal(t, "me", who)
	require.Equal(t, io.EOF, st.Recv(nil))
	var ok bool
	require.NoError(t, st.Result(&ok))
	assert.True(t, ok)
}

// TestStreamCancelPropagation measures a caller's cancel reaching a
// streaming handler, over 1,000 trials.
func TestStreamCancelPropagation(t *testing.T) {
	s := newServer(t)
	started := make(chan struct{}, 1)
	ended := make(chan error, 1)
	require.NoError(t, s.HandleStream("Block.Stream", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		started <- struct{}{}
		var v any
		err := st.Recv(&v) // blocks: the caller sends nothing
		ended <- ctx.Err()
		return nil, err
	}))
	c := dialTCP(t, s)
	const trials = 1000
	delays := make([]time.Duration, 0, trials)
	for range trials {
		ctx, cancel := context.WithCancel(t.Context())
		st, err := c.NewStream(ctx, "Block.Stream")
		require.NoError(t, err)
		<-started
		t0 := time.Now()
		cancel()
		require.ErrorIs(t, st.Recv(nil), context.Canceled)
		require.ErrorIs(t, <-ended, context.Canceled)
		delays = append(delays, time.Since(t0))
		st.Close()
	}
	p99 := percentile(delays, 0.99)
	t.Logf("stream cancel propagation over %d trials: p50=%v p99=%v max=%v", trials, percentile(delays, 0.5), p99, percentile(delays, 1))
	assert.LessOrEqual(t, p99, 100*time.Millisecond)
}

// TestSlowReaderIsolation stalls one stream (its reader stops) while
// another stream on the same connection moves bulk data.
func TestSlowReaderIsolation(t *testing.T) {
	s := newServer(t)
	chunk := make([]byte, 256<<10)
	require.NoError(t, server.HandleServerStream(s, "Bulk.Send", func(ctx context.Context, n *int, send func(*[]byte) error) error {
		for i := 0; i < *n; i++ {
			if err := send(&chunk); err != nil {
				return err
			}
		}
		return nil
	}))
	c := dialTCP(t, s)
	ctx := t.Context()
	heap0 := heapInUse()
	stalled, err := client.OpenServerStream[int, []byte](ctx, c, "Bulk.Send", ptr(1<<20))
	require.NoError(t, err)
	defer stalled.Close()
	_, err = stalled.Recv() // one message, then never read again
	require.NoError(t, err)

	total := 200 << 20
	if raceEnabled {
		total = 40 << 20 // the race detector slows memory copies ~10x
	}
	t0 := time.Now()
	rd, err := client.OpenServerStream[int, []byte](ctx, c, "Bulk.Send", ptr(total/len(chunk)))
	require.NoError(t, err)
	moved := 0
	for {
		m, err := rd.Recv()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		moved += len(*m)
	}
	elapsed := time.Since(t0)
	heap1 := heapInUse()
	require.Equal(t, total, moved)
	t.Logf("moved %d MiB on one stream in %v (%.0f MiB/s) while another stream was stalled; heap in use %+.0f KiB",
		moved>>20, elapsed, float64(moved>>20)/elapsed.Seconds(), float64(int64(heap1)-int64(heap0))/1024)
}

func ptr[T any](v T) *T { return &v }

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
