package e2e_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// metadataCase is one call's metadata and whether the server takes it.
type metadataCase struct {
	name string
	md   ferry.Metadata
	ok   bool
}

// metadataCases are the size classes around the metadata limits (1,024
// pairs, 64 KiB encoded): one pair of 1 KiB, one that makes exactly
// 64 KiB (the map header, "k" and a str16 header take 6 bytes), 64 KiB
// and 1 MiB values, 1,024 and 1,025 pairs.
func metadataCases() []metadataCase {
	one := func(n int) ferry.Metadata { return ferry.Metadata{"k": strings.Repeat("v", n)} }
	pairs := func(n int) ferry.Metadata {
		md := make(ferry.Metadata, n)
		for i := range n {
			md[fmt.Sprint(i)] = "v"
		}
		return md
	}
	return []metadataCase{
		{"1 KiB value", one(1 << 10), true},
		{"exactly 64 KiB", one(64<<10 - 6), true},
		{"one byte past 64 KiB", one(64<<10 - 5), false},
		{"1 MiB value", one(1 << 20), false},
		{"1,024 pairs", pairs(1024), true},
		{"1,025 pairs", pairs(1025), false},
	}
}

// TestMetadataLimits: past 1,024 pairs or 64 KiB, a call's metadata is
// refused as invalid_argument, not executed, and its handler does not
// run; at the limits the call is served. Through the client over TCP, on a
// stream's opening, and from a raw socket speaking plain MessagePack-RPC
// with Ferry's ext element, whose connection stays usable.
func TestMetadataLimits(t *testing.T) {
	var ran atomic.Int64
	s := newServer(t)
	require.NoError(t, server.Handle(s, "Md.Count", func(ctx context.Context, _ *struct{}) (*int, error) {
		ran.Add(1)
		n := len(ferry.IncomingMetadata(ctx))
		return &n, nil
	}))
	require.NoError(t, server.HandleServerStream(s, "Md.Stream", func(ctx context.Context, _ *struct{}, send func(*int) error) error {
		ran.Add(1)
		n := len(ferry.IncomingMetadata(ctx))
		return send(&n)
	}))
	addr := listen(t, s)
	c, err := client.Dial(t.Context(), addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })

	checkRefused := func(t *testing.T, err error) {
		t.Helper()
		var fe *ferry.Error
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, ferry.CodeInvalidArgument, fe.Code)
		assert.Contains(t, fe.Message, "metadata has more than 1024 pairs or 64 KiB")
		assert.True(t, ferry.NotExecuted(err))
	}
	for _, mc := range metadataCases() {
		t.Run("client/"+mc.name, func(t *testing.T) {
			before := ran.Load()
			ctx := ferry.WithOutgoingMetadata(t.Context(), mc.md)
			var n int
			err := c.Call(ctx, "Md.Count", struct{}{}, &n)
			if mc.ok {
				require.NoError(t, err)
				assert.Equal(t, len(mc.md), n)
				return
			}
			checkRefused(t, err)
			assert.Equal(t, before, ran.Load(), "the handler ran")
		})
		t.Run("stream/"+mc.name, func(t *testing.T) {
			before := ran.Load()
			ctx := ferry.WithOutgoingMetadata(t.Context(), mc.md)
			rd, err := client.OpenServerStream[struct{}, int](ctx, c, "Md.Stream", &struct{}{})
			if err == nil {
				var got *int
				got, err = rd.Recv()
				if err == nil {
					assert.Equal(t, len(mc.md), *got)
				}
				_ = rd.Close()
			}
			if mc.ok {
				require.NoError(t, err)
				return
			}
			checkRefused(t, err)
			assert.Equal(t, before, ran.Load(), "the handler ran")
		})
	}
	// The client still works after the refusals.
	var n int
	require.NoError(t, c.Call(t.Context(), "Md.Count", struct{}{}, &n))

	t.Run("raw socket", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer conn.Close()
		require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second)))
		dec := msgpack.NewDecoder(conn)
		for i, mc := range metadataCases() {
			before := ran.Load()
			req, err := msgpack.Marshal([]any{0, i, "Md.Count", []any{}, map[string]any{"m": map[string]string(mc.md)}})
			require.NoError(t, err)
			_, err = conn.Write(req)
			require.NoError(t, err)
			var resp []any
			require.NoError(t, dec.Decode(&resp), mc.name)
			if mc.ok {
				require.Len(t, resp, 4, mc.name)
				assert.Nil(t, resp[2], mc.name)
				assert.EqualValues(t, len(mc.md), resp[3], mc.name)
				continue
			}
			require.Len(t, resp, 5, mc.name)
			assert.Contains(t, resp[2], "metadata has more than 1024 pairs or 64 KiB", mc.name)
			ext, _ := resp[4].(map[string]any)
			assert.EqualValues(t, ferry.CodeInvalidArgument, ext["c"], mc.name)
			assert.Equal(t, true, ext["n"], mc.name)
			assert.Equal(t, before, ran.Load(), "the handler ran: %s", mc.name)
		}
	})
}

// TestLongMethodNamesAreCut: a method name is echoed in errors cut to 128
// bytes, however long it arrived: quoted in full, 1 MiB of bytes that are
// not printable would come back as a 4 MiB message, from every path that
// refuses a name (unknown unary methods, unknown streams, control
// messages), as from a stream refused for its metadata.
func TestLongMethodNamesAreCut(t *testing.T) {
	s := newServer(t)
	require.NoError(t, server.HandleServerStream(s, "Md.Stream", func(ctx context.Context, _ *struct{}, send func(*int) error) error {
		return send(new(int))
	}))
	c := dialTCP(t, s)
	long := strings.Repeat("\xff", 1<<20)
	check := func(t *testing.T, err error, code ferry.Code) {
		t.Helper()
		var fe *ferry.Error
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, code, fe.Code, "%.300s", fe.Message)
		assert.Less(t, len(fe.Message), 1<<10, "the name is cut")
	}
	t.Run("unary", func(t *testing.T) {
		check(t, c.Call(t.Context(), long, struct{}{}, nil), ferry.CodeUnimplemented)
	})
	t.Run("control", func(t *testing.T) {
		check(t, c.Call(t.Context(), "$ferry."+long, struct{}{}, nil), ferry.CodeUnimplemented)
	})
	t.Run("stream", func(t *testing.T) {
		rd, err := client.OpenServerStream[struct{}, int](t.Context(), c, long, &struct{}{})
		if err == nil {
			_, err = rd.Recv()
			_ = rd.Close()
		}
		check(t, err, ferry.CodeUnimplemented)
	})
	t.Run("stream with too much metadata", func(t *testing.T) {
		md := ferry.Metadata{"k": strings.Repeat("v", 1<<17)}
		rd, err := client.OpenServerStream[struct{}, int](ferry.WithOutgoingMetadata(t.Context(), md), c, "Md."+long, &struct{}{})
		if err == nil {
			_, err = rd.Recv()
			_ = rd.Close()
		}
		check(t, err, ferry.CodeInvalidArgument)
	})
}

// TestAppendOutgoingMetadata: pairs added with AppendOutgoingMetadata on
// top of a map arrive with it over TCP, each key once and the newest pair
// winning, on a call and a stream's
// opening; the handler sees the same through IncomingMetadataValue and
// IncomingMetadata.
func TestAppendOutgoingMetadata(t *testing.T) {
	s := newServer(t)
	require.NoError(t, server.Handle(s, "Md.All", func(ctx context.Context, _ *struct{}) (*ferry.Metadata, error) {
		md := ferry.IncomingMetadata(ctx)
		for k, v := range md {
			if one, ok := ferry.IncomingMetadataValue(ctx, k); !ok || one != v {
				return nil, ferry.Errorf(ferry.CodeInternal, "IncomingMetadataValue(%q) = %q, %v; the map has %q", k, one, ok, v)
			}
		}
		return &md, nil
	}))
	require.NoError(t, server.HandleServerStream(s, "Md.Stream", func(ctx context.Context, _ *struct{}, send func(*ferry.Metadata) error) error {
		md := ferry.IncomingMetadata(ctx)
		return send(&md)
	}))
	c := dialTCP(t, s)
	ctx := ferry.WithOutgoingMetadata(t.Context(), ferry.Metadata{"tenant": "acme", "traceparent": "old"})
	ctx = ferry.AppendOutgoingMetadata(ctx, "traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	ctx = ferry.AppendOutgoingMetadata(ctx, "tracestate", "a=1")
	ctx = ferry.AppendOutgoingMetadata(ctx, "tracestate", "a=2")
	want := ferry.Metadata{"tenant": "acme", "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tracestate": "a=2"}

	var got ferry.Metadata
	require.NoError(t, c.Call(ctx, "Md.All", struct{}{}, &got))
	assert.Equal(t, want, got)

	rd, err := client.OpenServerStream[struct{}, ferry.Metadata](ctx, c, "Md.Stream", &struct{}{})
	require.NoError(t, err)
	first, err := rd.Recv()
	require.NoError(t, err)
	assert.Equal(t, want, *first)

	got = nil
	require.NoError(t, c.Call(ferry.AppendOutgoingMetadata(t.Context(), "only", "1"), "Md.All", struct{}{}, &got))
	assert.Equal(t, ferry.Metadata{"only": "1"}, got)
}

// TestNotificationKeepsMetadata: a notification handler that keeps its
// context reads the metadata its own notification carried, even after
// many more notifications have been served (the server reuses what it
// keeps per notification).
func TestNotificationKeepsMetadata(t *testing.T) {
	const n = 200
	kept := make(chan context.Context, n)
	s := newServer(t)
	require.NoError(t, server.Handle(s, "Md.Keep", func(ctx context.Context, _ *int) (*struct{}, error) {
		kept <- ctx
		return nil, nil
	}))
	c := dialTCP(t, s)
	for i := range n {
		ctx := ferry.WithOutgoingMetadata(t.Context(), ferry.Metadata{"i": fmt.Sprint(i)})
		require.NoError(t, c.Notify(ctx, "Md.Keep", i))
	}
	seen := map[string]bool{}
	for range n {
		select {
		case ctx := <-kept:
			v, ok := ferry.IncomingMetadataValue(ctx, "i")
			require.True(t, ok)
			assert.Equal(t, v, ferry.IncomingMetadata(ctx)["i"])
			seen[v] = true
		case <-time.After(10 * time.Second):
			t.Fatal("notifications not all served")
		}
	}
	assert.Len(t, seen, n, "each kept context holds its own notification's metadata")
}
