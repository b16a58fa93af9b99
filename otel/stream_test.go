package otel_test

import (
	"context"
	"io"
	"net"
	"strconv"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	ferryotel "github.com/ferryrpc/ferry/otel"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func echoStream(ctx context.Context, st ferry.ServerStream) (any, error) {
	for {
		var s string
		if err := st.Recv(&s); err == io.EOF {
			return nil, nil
		} else if err != nil {
			return nil, err
		}
		if s == "fail" {
			return nil, ferry.NewError(ferry.CodeInternal, "asked to fail")
		}
		if err := st.Send(s); err != nil {
			return nil, err
		}
	}
}

// streamPair connects a server and a client, both with the stream
// interceptors in both directions; each serves "Echo.Chat".
func streamPair(t *testing.T, tel *telemetry) (*client.Client, chan *server.Peer) {
	t.Helper()
	peers := make(chan *server.Peer, 1)
	s := server.New(
		server.WithStreamInterceptors(ferryotel.StreamServerInterceptor(tel.opts...)),
		server.WithStreamClientInterceptors(ferryotel.StreamClientInterceptor(tel.opts...)),
		server.WithConnHooks(func(p *server.Peer) { peers <- p }, nil),
	)
	require.NoError(t, s.HandleStream("Echo.Chat", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		return echoStream(ctx, st)
	}))
	cc, sc := net.Pipe()
	done := make(chan struct{})
	go func() { defer close(done); _ = s.ServeConn(sc) }()
	c, err := client.New(cc,
		client.WithStreamInterceptors(ferryotel.StreamClientInterceptor(tel.opts...)),
		client.WithStreamServerInterceptors(ferryotel.StreamServerInterceptor(tel.opts...)),
	)
	require.NoError(t, err)
	require.NoError(t, c.HandleStream("Echo.Chat", ferry.BidiStreaming, echoStream))
	t.Cleanup(func() { c.Close(); s.Close(); <-done })
	return c, peers
}

func chat(t *testing.T, ctx context.Context, o ferry.StreamOpener, msgs ...string) error {
	st, err := client.OpenBidi[string, string](ctx, o, "Echo.Chat")
	require.NoError(t, err)
	defer st.Close()
	for _, m := range msgs {
		require.NoError(t, st.Send(&m))
		if _, err := st.Recv(); err != nil {
			return err
		}
	}
	require.NoError(t, st.CloseSend())
	_, err = st.Recv()
	if err == io.EOF {
		return nil
	}
	return err
}

func TestStreamsAreTracedBothWays(t *testing.T) {
	for _, mode := range metricModes {
		t.Run(mode, func(t *testing.T) { testStreamsAreTracedBothWays(t, newTelemetryMode(t, mode)) })
	}
}

func testStreamsAreTracedBothWays(t *testing.T, tel *telemetry) {
	c, peers := streamPair(t, tel)
	p := <-peers
	tracer := sdktrace.NewTracerProvider().Tracer("test")
	ctx, root := tracer.Start(t.Context(), "root")
	require.NoError(t, chat(t, ctx, c, "a", "bb", "ccc"))   // client to server
	require.NoError(t, chat(t, ctx, p, "x"))                // server to client
	require.Error(t, chat(t, t.Context(), c, "ok", "fail")) // a failure, in a trace of its own
	root.End()

	spans := tel.spans.Ended()
	require.Len(t, spans, 6)
	var kinds []string
	for _, s := range spans[:4] {
		assert.Equal(t, root.SpanContext().TraceID(), s.SpanContext().TraceID(), "one trace: %s", s.Name())
		kinds = append(kinds, s.SpanKind().String())
		a := attrs(s.Attributes())
		assert.Equal(t, "Echo.Chat", a["rpc.method"])
		assert.Equal(t, "bidi", a["ferry.stream.kind"])
		assert.Equal(t, "OK", a["rpc.response.status_code"])
		n, _ := strconv.Atoi(a["ferry.stream.bytes.sent"])
		assert.Positive(t, n, "bytes are counted: %v", a)
	}
	assert.ElementsMatch(t, []string{"server", "client", "server", "client"}, kinds)
	byKind := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans[:2] {
		byKind[s.SpanKind().String()] = s
	}
	srv, cli := byKind["server"], byKind["client"]
	require.NotNil(t, srv)
	require.NotNil(t, cli)
	assert.Equal(t, cli.SpanContext().SpanID(), srv.Parent().SpanID(), "the server span continues the client's")
	assert.Equal(t, "3", attrs(srv.Attributes())["ferry.stream.messages.received"])
	assert.Equal(t, "3", attrs(srv.Attributes())["ferry.stream.messages.sent"])
	assert.Equal(t, "3", attrs(cli.Attributes())["ferry.stream.messages.sent"])
	// What one side sent, the other received, byte for byte.
	assert.Equal(t, attrs(cli.Attributes())["ferry.stream.bytes.sent"], attrs(srv.Attributes())["ferry.stream.bytes.received"])

	for _, s := range spans[4:] {
		assert.Equal(t, "INTERNAL", attrs(s.Attributes())["rpc.response.status_code"])
		assert.Equal(t, codes.Error, s.Status().Code)
	}

	var rm metricdata.ResourceMetrics
	require.NoError(t, tel.reader.Collect(t.Context(), &rm))
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[int64]); ok {
				for _, dp := range h.DataPoints {
					dir, _ := dp.Attributes.Value("ferry.stream.direction")
					code, _ := dp.Attributes.Value("rpc.response.status_code")
					got[m.Name+" "+dir.AsString()+" "+code.AsString()] += dp.Sum
				}
			}
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok {
				for _, dp := range h.DataPoints {
					got[m.Name] += int64(dp.Count)
				}
			}
		}
	}
	assert.Equal(t, int64(3), got["rpc.server.call.duration"])
	assert.Equal(t, int64(3), got["rpc.client.call.duration"])
	assert.Equal(t, int64(4), got["ferry.rpc.server.stream.messages received OK"])
	assert.Equal(t, int64(4), got["ferry.rpc.client.stream.messages sent OK"])
	assert.Equal(t, int64(2), got["ferry.rpc.server.stream.messages received INTERNAL"])
	assert.Positive(t, got["ferry.rpc.client.stream.size sent OK"])
	assert.Equal(t, got["ferry.rpc.client.stream.size sent OK"], got["ferry.rpc.server.stream.size received OK"])
}
