package systems_test

import (
	"io"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/benchmarks/bench"
	"github.com/ferryrpc/ferry/benchmarks/message"
	"github.com/ferryrpc/ferry/benchmarks/systems"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// runTiny runs a 20 ms window at concurrency 2, and again with a longer
// window if a stalled machine let no call complete in it. Run fails unless
// every worker's last echoed reply decodes equal to what it sent.
func runTiny(t *testing.T, sys bench.System, w bench.Workload) (bench.Result, error) {
	t.Helper()
	var res bench.Result
	var err error
	for d := 20 * time.Millisecond; d <= 320*time.Millisecond; d *= 4 {
		res, err = bench.Run(t.Context(), sys, bench.Options{
			Workload: w, Concurrency: 2, Warmup: 5 * time.Millisecond, Duration: d,
		})
		if err != nil || res.Calls > 0 {
			break
		}
	}
	return res, err
}

func TestEverySystemEchoes(t *testing.T) {
	for _, sys := range systems.All() {
		for _, k := range message.Kinds() {
			t.Run(sys.Name()+"/"+k.String(), func(t *testing.T) {
				res, err := runTiny(t, sys, bench.Workload{Message: k})
				require.NoError(t, err)
				assert.Positive(t, res.Calls)
				assert.Positive(t, res.CallsPerSec)
				assert.Positive(t, res.P50)
				assert.LessOrEqual(t, res.P50, res.P999)
				assert.Equal(t, k, res.Message)
			})
		}
	}
}

// TestCheckNeedsTheEcho checks, for every system and message, that a
// caller's Check fails until a call has brought the echo back, and passes
// after one: the runs above rely on Check to prove the echo.
func TestCheckNeedsTheEcho(t *testing.T) {
	for _, sys := range systems.All() {
		t.Run(sys.Name(), func(t *testing.T) {
			srv, err := sys.Listen()
			require.NoError(t, err)
			defer srv.Close()
			cl, err := srv.Dial(t.Context())
			require.NoError(t, err)
			defer cl.Close()
			for _, k := range message.Kinds() {
				w := bench.Workload{Message: k}
				switch c := cl.(type) {
				case bench.SyncClient:
					k1, err := c.NewCaller(w)
					require.NoError(t, err, k)
					require.Error(t, k1.Check(), k)
					require.NoError(t, k1.Call(t.Context()), k)
					require.NoError(t, k1.Check(), k)
				case bench.AsyncClient:
					p, err := c.NewPipeline(w, 2)
					require.NoError(t, err, k)
					require.Error(t, p.Check(1), k)
					p.Start(t.Context(), 1)
					require.NoError(t, p.Wait(1), k)
					require.NoError(t, p.Check(1), k)
					require.Error(t, p.Check(0), "%s: slot 0 made no call", k)
				default:
					t.Fatalf("client %T is neither sync nor async", cl)
				}
			}
		})
	}
}

func TestBulk(t *testing.T) {
	supported := map[string]bool{}
	for _, sys := range systems.All() {
		res, err := runTiny(t, sys, bench.Workload{Bulk: 64 << 10})
		if err != nil {
			require.ErrorIs(t, err, bench.ErrUnsupported, sys.Name())
			continue
		}
		supported[sys.Name()] = true
		assert.Positive(t, res.Calls, sys.Name())
	}
	for _, name := range []string{"ferry", "grpc-raw", "tcp-raw", "yamux-raw"} {
		assert.True(t, supported[name], name)
	}
	assert.False(t, supported["ferry-reflect"], "ferry-reflect registers no bulk method")
}

func TestIdle(t *testing.T) {
	defer func(d time.Duration) { bench.IdleSettle = d }(bench.IdleSettle)
	bench.IdleSettle = 0 // the measurement's idle period, not needed to check it works
	for _, sys := range systems.All() {
		res, err := bench.Idle(t.Context(), sys, 10)
		require.NoError(t, err, sys.Name())
		assert.Equal(t, 10, res.Conns)
		assert.Positive(t, res.GoroutinesPC, sys.Name())
		// Every system keeps goroutines at both ends (a reader at least),
		// and the split cannot count more than the total (give or take a
		// few goroutines that start or end between the two readings).
		assert.Positive(t, res.ClientGoroutinesPC, sys.Name())
		assert.Positive(t, res.ServerGoroutinesPC, sys.Name())
		assert.LessOrEqual(t, res.ClientGoroutinesPC+res.ServerGoroutinesPC, res.GoroutinesPC+0.5, sys.Name())
	}
}

// TestVariants checks which systems the idle scenario skips as handler
// variants of another.
func TestVariants(t *testing.T) {
	names := map[string]bool{}
	for _, sys := range systems.All() {
		names[sys.Name()] = true
	}
	for _, sys := range systems.All() {
		of := ""
		if v, ok := sys.(bench.Variant); ok {
			of = v.VariantOf()
		}
		if sys.Name() == "ferry-reflect" {
			assert.Equal(t, "ferry", of)
		} else {
			assert.Empty(t, of, sys.Name())
		}
		if of != "" {
			assert.True(t, names[of], "%s varies %s, which is not a system", sys.Name(), of)
		}
	}
}

// streamSystems are the systems that must run the stream scenario.
var streamSystems = []string{"ferry", "grpc", "grpc-raw"}

func TestStream(t *testing.T) {
	supported := map[string]bool{}
	for _, sys := range systems.All() {
		var res bench.Result
		var err error
		for d := 20 * time.Millisecond; d <= 320*time.Millisecond; d *= 4 {
			res, err = bench.RunStream(t.Context(), sys, bench.StreamOptions{
				Streams: 2, Window: 4, Warmup: 5 * time.Millisecond, Duration: d,
			})
			if err != nil || res.Calls > 0 {
				break
			}
		}
		if err != nil {
			require.ErrorIs(t, err, bench.ErrUnsupported, sys.Name())
			continue
		}
		supported[sys.Name()] = true
		assert.Positive(t, res.Calls, sys.Name())
		assert.Positive(t, res.CallsPerSec, sys.Name())
		assert.Equal(t, 4, res.Window, sys.Name())
		assert.Equal(t, 2, res.Concurrency, sys.Name())
		assert.InDelta(t, 600, res.MessageBytes, 100, sys.Name())
	}
	for _, name := range streamSystems {
		assert.True(t, supported[name], name)
	}
}

// TestStreamEchoesEveryMessage sends a few messages ahead of their echoes
// on one stream, checks that every echo decodes equal to the message, and
// that the stream ends cleanly after CloseSend.
func TestStreamEchoesEveryMessage(t *testing.T) {
	for _, sys := range systems.All() {
		t.Run(sys.Name(), func(t *testing.T) {
			srv, err := sys.Listen()
			require.NoError(t, err)
			defer srv.Close()
			cl, err := srv.Dial(t.Context())
			require.NoError(t, err)
			defer cl.Close()
			sc, ok := cl.(bench.StreamClient)
			if !ok {
				assert.NotContains(t, streamSystems, sys.Name())
				return
			}
			st, err := sc.OpenStream(t.Context())
			require.NoError(t, err)
			defer st.Close()
			const ahead = 3
			for range ahead {
				require.NoError(t, st.Send())
			}
			for range 2 * ahead {
				require.NoError(t, st.Recv())
				require.NoError(t, st.Check())
				require.NoError(t, st.Send())
			}
			require.NoError(t, st.CloseSend())
			for range ahead {
				require.NoError(t, st.Recv())
				require.NoError(t, st.Check())
			}
			require.ErrorIs(t, st.Recv(), io.EOF)
		})
	}
}
