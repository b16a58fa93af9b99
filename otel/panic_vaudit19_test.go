package otel_test

import (
	"context"
	"net"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	ferryotel "github.com/ferryrpc/ferry/otel"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
)

// TestVaudit19PanicEndsTheServerSpan: "one span per call" with the code
// the caller gets: a handler that panics is an internal failure, and its
// server span ends, an error, with rpc.response.status_code INTERNAL (the
// panic unwound through the interceptor, and the span never ended).
func TestVaudit19PanicEndsTheServerSpan(t *testing.T) {
	tel := newTelemetry(t)
	s := server.New(server.WithInterceptors(ferryotel.ServerInterceptor(tel.opts...)))
	require.NoError(t, server.Handle(s, "Svc.Panic", func(ctx context.Context, a *Args) (*int64, error) { panic("boom") }))
	cc, sc := net.Pipe()
	done := make(chan struct{})
	go func() { defer close(done); _ = s.ServeConn(sc) }()
	c, err := client.New(cc)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close(); s.Close(); <-done })

	err = c.Call(t.Context(), "Svc.Panic", Args{}, nil)
	require.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
	ended := tel.spans.Ended()
	require.Len(t, ended, 1, "the server span ended")
	assert.Equal(t, codes.Error, ended[0].Status().Code)
	var code string
	for _, kv := range ended[0].Attributes() {
		if kv.Key == attribute.Key("rpc.response.status_code") {
			code = kv.Value.AsString()
		}
	}
	assert.Equal(t, "INTERNAL", code)
}
