package server_test

import (
	"context"
	"net"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/ferryrpc/ferry/internal/testsvc"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Extension values where a handler expects a map: msgpack v5.4.1's map
// decoding skips an extension's header and parses its payload, which
// validation treats as opaque, so before the codec refused that, ten bytes
// could declare an array of 2^32-1 elements (64 GiB of []any) and kill the
// process.

// extArgs is a handler argument with the field types that hold anything.
type extArgs struct {
	M map[string]any
	S []any
	A any
}

// extBombServer serves Arith (for the checks around each bomb) and
// handlers taking map[string]any, map[any]any, []map[string]any, []any,
// any and extArgs, on 127.0.0.1:0 until the test ends.
func extBombServer(t *testing.T) string {
	t.Helper()
	s := server.New()
	require.NoError(t, s.Register(testsvc.Arith{}))
	require.NoError(t, server.Handle(s, "Ext.Map", func(context.Context, *map[string]any) (*bool, error) { return new(bool), nil }))
	require.NoError(t, server.Handle(s, "Ext.AnyMap", func(context.Context, *map[any]any) (*bool, error) { return new(bool), nil }))
	require.NoError(t, server.Handle(s, "Ext.Maps", func(context.Context, *[]map[string]any) (*bool, error) { return new(bool), nil }))
	require.NoError(t, server.Handle(s, "Ext.Slice", func(context.Context, *[]any) (*bool, error) { return new(bool), nil }))
	require.NoError(t, server.Handle(s, "Ext.Any", func(context.Context, *any) (*bool, error) { return new(bool), nil }))
	require.NoError(t, server.Handle(s, "Ext.Struct", func(context.Context, *extArgs) (*bool, error) { return new(bool), nil }))
	require.NoError(t, server.HandleClientStream(s, "Ext.Collect", func(_ context.Context, recv func() (*map[string]any, error)) (*bool, error) {
		for {
			if _, err := recv(); err != nil {
				return nil, err
			}
		}
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		require.NoError(t, s.Close())
		require.ErrorIs(t, <-done, server.ErrServerClosed)
	})
	return l.Addr().String()
}

// extRequest is [0, 9, method, params, {}]: with an (empty) ext map, the
// error reply carries its code.
func extRequest(method string, params []byte) []byte {
	b := msgpack.AppendArrayHeader(nil, 5)
	b = msgpack.AppendUint(append(b, wire.TypeRequest), 9)
	return append(append(msgpack.AppendString(b, method), params...), 0x80)
}

// extBombPayload is eight payload bytes that msgpack's map decoding reads
// as {"A": array32 of 2^32-1}.
var extBombPayload = []byte{0x81, 0xa1, 'A', 0xdd, 0xff, 0xff, 0xff, 0xff}

func extBombs() []bomb {
	fixext8 := cat([]byte{0xd7, 0x30}, extBombPayload)
	timeExt := cat([]byte{0xd7, 0xff}, extBombPayload) // a valid time.Time
	return []bomb{
		{name: "map[string]any: fixext8", msg: extRequest("Ext.Map", cat([]byte{0x91}, fixext8))},
		{name: "map[string]any: ext32", msg: extRequest("Ext.Map", cat([]byte{0x91, 0xc9, 0, 0, 0, 0x08, 0x30}, extBombPayload))},
		{name: "map[string]any: time ext", msg: extRequest("Ext.Map", cat([]byte{0x91}, timeExt))},
		{name: "map[any]any: the issue's bytes", msg: extRequest("Ext.AnyMap", []byte{0x91, 0xd7, 0x30, 0x8d, 0x30, 0xdd, 0x30, 0x00, 0x85, 0x30, 0x85})},
		{name: "[]map[string]any: fixext1 map32", msg: extRequest("Ext.Maps", []byte{0x91, 0x95, 0xd4, 0x30, 0xdf, 0xff, 0xff, 0xff, 0xff})},
		{name: "[]map[string]any: empty ext, then a map", msg: extRequest("Ext.Maps", []byte{0x91, 0x92, 0xc7, 0x00, 0x30, 0x80})},
		{name: "[]any: fixext8", msg: extRequest("Ext.Slice", cat([]byte{0x91, 0x91}, fixext8))},
		{name: "any: fixext8", msg: extRequest("Ext.Any", cat([]byte{0x91}, fixext8))},
		{name: "struct field map[string]any: fixext8", msg: extRequest("Ext.Struct", cat([]byte{0x91, 0x81, 0xa1, 'M'}, fixext8))},
	}
}

// checkExtRefusal asserts the server answered the bomb with
// invalid_argument, allocating less than bombAllocLimit.
func checkExtRefusal(t *testing.T, out bombOutcome) {
	t.Helper()
	assert.Less(t, out.alloc, uint64(bombAllocLimit))
	require.NotNil(t, out.reply, "read ended: %v", out.readErr)
	assert.Equal(t, uint32(9), out.reply.ID)
	msg, err := msgpack.ReadStringBytes(out.reply.Error)
	require.NoError(t, err)
	assert.Contains(t, string(msg), "cannot decode")
	ext, err := wire.ParseResponseExt(out.reply.Ext)
	require.NoError(t, err)
	assert.Equal(t, uint32(ferry.CodeInvalidArgument), ext.Code)
}

// TestExtBombsOverBareMsgpackRPC writes each bomb on a raw TCP connection
// (no Ferry client): the server refuses the call with invalid_argument,
// allocates less than 1 MiB doing so, and then answers a good call on the
// same connection and on others.
func TestExtBombsOverBareMsgpackRPC(t *testing.T) {
	addr := extBombServer(t)
	keep := openKeepAlive(t, addr)
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer nc.Close()
	rd := wire.NewReader(nc, wire.DefaultLimits)
	warmUp(t, nc, rd)
	for _, bm := range extBombs() {
		t.Run(bm.name, func(t *testing.T) {
			out := throwBomb(t, nc, rd, bm.msg, nil)
			t.Logf("EXT BOMB bare %-42q %3d bytes sent: %6d bytes allocated, answered in %v (%s)",
				bm.name, len(bm.msg), out.alloc, out.elapsed, describe(out))
			checkExtRefusal(t, out)
			warmUp(t, nc, rd)
			keep.check(t, addr)
		})
	}
}

// TestExtBombsOverFerrySession sends the same bombs on a stream of a
// Ferry (yamux) session.
func TestExtBombsOverFerrySession(t *testing.T) {
	addr := extBombServer(t)
	keep := openKeepAlive(t, addr)
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer nc.Close()
	sess, err := transport.Client(nc, transport.DefaultConfig())
	require.NoError(t, err)
	defer sess.Close()
	st, err := sess.Open(t.Context())
	require.NoError(t, err)
	defer st.Close()
	rd := wire.NewReader(st, wire.DefaultLimits)
	warmUp(t, st, rd)
	for _, bm := range extBombs() {
		t.Run(bm.name, func(t *testing.T) {
			out := throwBomb(t, st, rd, bm.msg, nil)
			t.Logf("EXT BOMB ferry %-42q %3d bytes sent: %6d bytes allocated, answered in %v (%s)",
				bm.name, len(bm.msg), out.alloc, out.elapsed, describe(out))
			checkExtRefusal(t, out)
			warmUp(t, st, rd)
			keep.check(t, addr)
		})
	}
}

// TestExtBombInStreamMessage sends the bomb as a message of a streaming
// call whose handler receives map[string]any: the call ends with
// invalid_argument, and the session serves the next call.
func TestExtBombInStreamMessage(t *testing.T) {
	addr := extBombServer(t)
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer nc.Close()
	sess, err := transport.Client(nc, transport.DefaultConfig())
	require.NoError(t, err)
	defer sess.Close()
	st, err := sess.Open(t.Context())
	require.NoError(t, err)
	defer st.Close()

	open := msgpack.AppendArrayHeader([]byte{0xc1}, 5)
	open = append(msgpack.AppendString(append(open, wire.TypeRequest, 0x00), "Ext.Collect"), 0x90, 0x80)
	_, err = st.Write(open)
	require.NoError(t, err)
	frame := cat([]byte{0x92, 0x03, 0xd7, 0x30}, extBombPayload) // [3, payload]
	out := throwBomb(t, st, wire.NewReader(st, wire.DefaultLimits), frame, nil)
	t.Logf("EXT BOMB stream message %d bytes sent: %d bytes allocated, answered in %v (%s)",
		len(frame), out.alloc, out.elapsed, describe(out))
	assert.Less(t, out.alloc, uint64(bombAllocLimit))
	require.NotNil(t, out.reply, "read ended: %v", out.readErr)
	assert.Equal(t, uint32(0), out.reply.ID)
	ext, err := wire.ParseResponseExt(out.reply.Ext)
	require.NoError(t, err)
	assert.Equal(t, uint32(ferry.CodeInvalidArgument), ext.Code)

	st2, err := sess.Open(t.Context())
	require.NoError(t, err)
	defer st2.Close()
	warmUp(t, st2, wire.NewReader(st2, wire.DefaultLimits))
}
