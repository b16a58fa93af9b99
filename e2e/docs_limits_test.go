package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/codec"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// docMaxMessage is MaxMessageSize's default as the docs give it (4 MiB).
const docMaxMessage = 4 << 20

// echoBinRequest is a bare Echo.Echo request whose one param is a bin of
// n bytes; the message is n + echoOverhead bytes.
func echoBinRequest(msgid byte, n int) []byte {
	req := rawRequest([]byte{msgid}, str8("Echo.Echo"), append([]byte{0x91}, binHeader(n)...))
	return append(req, bytes.Repeat([]byte{'x'}, n)...)
}

// echoOverhead is the size of echoBinRequest's message around its bin's
// payload: 0x94, 0x00, msgid, "Echo.Echo" as a str8, 0x91, the bin32 header.
const echoOverhead = 1 + 1 + 1 + 11 + 1 + 5

// nested returns k arrays nested one in the other around inner.
func nested(k int, inner []byte) []byte {
	return append(bytes.Repeat([]byte{0x91}, k), inner...)
}

// TestDocsMessageLimits checks PROTOCOL.md section 5 and SECURITY.md's
// bounds table against the example server with its default options: the
// message size limit (4 MiB, inclusive) on bare connections and on
// sessions, declared lengths checked before anything is allocated, and the
// nesting limit (64).
func TestDocsMessageLimits(t *testing.T) {
	srv := startArith(t, buildArithServer(t))

	t.Run("BareSizes", func(t *testing.T) {
		// "a message larger than MaxMessageSize (4 MiB by default) is
		// rejected": a message of exactly 4 MiB is served.
		c := dialRaw(t, srv.addr)
		for i, total := range []int{1 << 10, 64 << 10, docMaxMessage - 1, docMaxMessage} {
			n := total - echoOverhead
			req := echoBinRequest(byte(i), n)
			require.Len(t, req, total)
			c.write(req)
			raw := c.readRaw()
			want := append([]byte{0x94, 0x01, byte(i), 0xc0}, binHeader(n)...)
			require.Len(t, raw, len(want)+n, "message of %d bytes", total)
			assert.Equal(t, want, raw[:len(want)], "message of %d bytes", total)
		}
		// Just past: the connection closes, with no reply.
		_ = c.writeMay(echoBinRequest(9, docMaxMessage+1-echoOverhead))
		c.closedWithin(5 * time.Second)

		// Past the limit by its received size, every declared length within
		// it: params [bin of 4 MiB - 100, bin of 100].
		c = dialRaw(t, srv.addr)
		n := docMaxMessage - 100
		req := rawRequest([]byte{1}, str8("Echo.Echo"), append([]byte{0x92}, binHeader(n)...))
		req = append(req, make([]byte, n)...)
		req = append(append(req, binHeader(100)...), make([]byte, 100)...)
		_ = c.writeMay(req)
		c.closedWithin(5 * time.Second)
	})

	t.Run("BareDeclaredSizeRejectedAtOnce", func(t *testing.T) {
		// "rejected as soon as its declared ... size passes the limit", "a
		// declared length ... larger than the bytes the size limit still
		// allows is rejected before anything is allocated": the server closes
		// the connection on the header alone, long before
		// PartialMessageTimeout (10 s).
		for _, tc := range []struct {
			name string
			head []byte
		}{
			{"bin of 4 MiB + 1", binHeader(docMaxMessage + 1 - echoOverhead)},
			{"bin of 2^32-1", []byte{0xc6, 0xff, 0xff, 0xff, 0xff}},
			{"str of 2^32-1", []byte{0xdb, 0xff, 0xff, 0xff, 0xff}},
			{"ext of 2^32-1", []byte{0xc9, 0xff, 0xff, 0xff, 0xff, 0x01}},
			{"array of 2^32-1", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}},
			{"map of 2^32-1", []byte{0xdf, 0xff, 0xff, 0xff, 0xff}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c := dialRaw(t, srv.addr)
				c.write(rawRequest([]byte{1}, str8("Echo.Echo"), append(append([]byte{0x91}, tc.head...), "abc"...)))
				took := c.closedWithin(5 * time.Second)
				assert.Less(t, took, 2*time.Second)
			})
		}
		c := dialRaw(t, srv.addr)
		c.write([]byte{0xdd, 0xff, 0xff, 0xff, 0xff}) // the message's own array
		assert.Less(t, c.closedWithin(5*time.Second), 2*time.Second)
	})

	t.Run("Depth", func(t *testing.T) {
		// "nesting deeper than MaxDepth (64) is rejected": the message's own
		// array is the first level, its params the second, so an argument
		// of 62 nested non-empty arrays is served, one of 63 is not.
		c := dialRaw(t, srv.addr)
		for k := 1; k <= 62; k += 61 {
			arg := nested(k, []byte{0x01})
			c.write(rawRequest([]byte{byte(k)}, str8("Echo.Echo"), append([]byte{0x91}, arg...)))
			raw := c.readRaw()
			assert.Equal(t, append([]byte{0x94, 0x01, byte(k), 0xc0}, arg...), raw, "depth %d", k+2)
		}
		// An empty array or map is not a level: [[...[]...]] with 63 arrays
		// counts 62.
		arg := nested(63, nil)
		arg[len(arg)-1] = 0x90
		c.write(rawRequest([]byte{63}, str8("Echo.Echo"), append([]byte{0x91}, arg...)))
		assert.Equal(t, append([]byte{0x94, 0x01, 63, 0xc0}, arg...), c.readRaw())
		c.write(rawRequest([]byte{64}, str8("Echo.Echo"), nested(64, []byte{0x01})))
		c.closedWithin(5 * time.Second)

		c = dialRaw(t, srv.addr)
		c.write(rawRequest([]byte{1}, str8("Echo.Map"), append(append([]byte{0x91}, bytes.Repeat([]byte{0x81, 0xa1, 'k'}, 200)...), 0x01)))
		c.closedWithin(5 * time.Second)
	})

	t.Run("SessionSizes", func(t *testing.T) {
		// The same limit on a session's call stream, through the Ferry
		// client: payloads up to just under 4 MiB go both ways. A request
		// past the limit is refused by the client before it is sent
		// (PROTOCOL.md 5): resource_exhausted, not executed, and the
		// connection, shared by every call, goes on.
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		c, err := client.Dial(ctx, srv.addr)
		require.NoError(t, err)
		defer c.Close()
		for _, n := range []int{1 << 10, 64 << 10, 1<<20 - 1, 1 << 20, docMaxMessage - 1024} {
			arg := codec.Raw(append(binHeader(n), bytes.Repeat([]byte{'y'}, n)...))
			var reply codec.Raw
			require.NoError(t, c.Call(ctx, "Echo.Echo", arg, &reply), "%d bytes", n)
			assert.Equal(t, []byte(arg), []byte(reply), "%d bytes", n)
		}
		arg := codec.Raw(append(binHeader(docMaxMessage), bytes.Repeat([]byte{'y'}, docMaxMessage)...))
		err = c.Call(ctx, "Echo.Echo", arg, nil)
		require.Error(t, err)
		assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%v", err)
		assert.True(t, ferry.NotExecuted(err), "%v", err)
		var sum int64
		require.NoError(t, c.Call(ctx, "Arith.Add", map[string]int{"A": 1, "B": 2}, &sum), "the connection goes on")
		assert.EqualValues(t, 3, sum)
		c2, err := client.Dial(ctx, srv.addr)
		require.NoError(t, err)
		defer c2.Close()
		require.NoError(t, c2.Call(ctx, "Arith.Add", map[string]int{"A": 1, "B": 2}, &sum))
		assert.EqualValues(t, 3, sum)
	})
}

// TestDocsStreamSendLimit checks PROTOCOL.md 6: "A sender refuses to send
// a message over its own limit (resource_exhausted, the stream stays
// usable)", with the Ferry client against the example server.
func TestDocsStreamSendLimit(t *testing.T) {
	srv := startArith(t, buildArithServer(t))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	c, err := client.Dial(ctx, srv.addr)
	require.NoError(t, err)
	defer c.Close()
	st, err := c.NewStream(ctx, "Echo.Chat")
	require.NoError(t, err)
	defer st.Close()
	err = st.Send(make([]byte, docMaxMessage))
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%v", err)
	for _, n := range []int{1 << 10, 64 << 10, docMaxMessage - 64} {
		require.NoError(t, st.Send(make([]byte, n)), "%d bytes", n)
		var got []byte
		require.NoError(t, st.Recv(&got), "%d bytes", n)
		assert.Len(t, got, n)
	}
	require.NoError(t, st.CloseSend())
	assert.ErrorIs(t, st.Recv(nil), io.EOF)
}

// TestDocsReadmeClient runs the README's client snippet against the
// example server binary.
func TestDocsReadmeClient(t *testing.T) {
	srv := startArith(t, buildArithServer(t))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, srv.addr)
	require.NoError(t, err)
	defer c.Close()
	type Args struct{ A, B int }

	var sum int
	require.NoError(t, c.Call(ctx, "Arith.Add", Args{3, 4}, &sum))
	assert.Equal(t, 7, sum)
	call := c.Go(ctx, "Arith.Add", Args{5, 6}, new(int))
	<-call.Done()
	require.NoError(t, call.Err())
	assert.Equal(t, 11, *call.Reply.(*int))
	assert.NoError(t, c.Notify(ctx, "Arith.Add", Args{1, 1}))
	err = c.Call(ctx, "Arith.Nope", Args{}, nil)
	assert.Equal(t, "unimplemented", fmt.Sprint(ferry.CodeOf(err)))
	assert.True(t, ferry.NotExecuted(err))
	err = c.Call(ctx, "Arith.Div", Args{1, 0}, nil)
	assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err))
	assert.Equal(t, "ferry: invalid_argument: division by zero", err.Error())
}
