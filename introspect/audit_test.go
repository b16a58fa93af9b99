package introspect_test

// Audit of the package doc: the wire shapes of List and Describe as a
// client in another language sees them.

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/introspect"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// Point is a typed stream message.
type Point struct {
	X, Y int32
	At   time.Time `msgpack:"at"`
	Blob []byte    `msgpack:"blob,omitempty"`
}

// TestAuditWireShapes checks, over bare MessagePack-RPC as a Python
// client sees it: Introspect.List takes params [] or [{}] and answers
// {"services": [{"name", "methods": [{"name", "kind"}]}]}; a name
// without a dot is in the service ""; Introspect.Describe takes
// [{"method": NAME}] or [NAME] and answers {"name", "kind", "args",
// "reply"} with "args" and "reply" absent for an untyped method; a
// stream's args and reply are its request and response messages, with
// the "binary" and "timestamp" types; an unknown method is not_found;
// "order" is the positional order a plain client passes the fields in.
func TestAuditWireShapes(t *testing.T) {
	s := server.New()
	require.NoError(t, s.Register(Arith{}))
	require.NoError(t, server.Handle(s, "ping", func(context.Context, *struct{}) (*string, error) {
		p := "pong"
		return &p, nil
	}))
	require.NoError(t, s.HandleStream("Raw.Feed", server.ServerStream, func(context.Context, *server.Stream) (any, error) { return nil, nil }))
	require.NoError(t, server.HandleBidi(s, "Geo.Track", func(context.Context, *server.BidiStream[Point, Point]) error { return nil }))
	require.NoError(t, introspect.Register(s))
	addr := ferrytest.Serve(t, s)
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	c, err := client.New(nc, client.WithPlainMsgpackRPC())
	require.NoError(t, err)
	defer c.Close()

	var empty, withObj map[string]any
	require.NoError(t, c.Call(t.Context(), introspect.ListMethod, nil, &empty), "params []")
	require.NoError(t, c.Call(t.Context(), introspect.ListMethod, map[string]any{}, &withObj), "params [{}]")
	assert.Equal(t, empty, withObj)
	require.Len(t, empty, 1, "only services: %v", empty)
	services, ok := empty["services"].([]any)
	require.True(t, ok, "%v", empty)
	first, ok := services[0].(map[string]any)
	require.True(t, ok)
	assert.Equal(t, "", first["name"], "names without a dot, sorted first")
	assert.Equal(t, []any{map[string]any{"name": "ping", "kind": "unary"}}, first["methods"])
	var lr introspect.ListReply
	require.NoError(t, c.Call(t.Context(), introspect.ListMethod, nil, &lr))
	var names []string
	for _, sv := range lr.Services {
		names = append(names, sv.Name)
	}
	assert.Equal(t, []string{"", "Arith", "Geo", "Introspect", "Raw"}, names)

	describe := func(params any) map[string]any {
		var d map[string]any
		require.NoError(t, c.Call(t.Context(), introspect.DescribeMethod, params, &d))
		return d
	}
	byObj := describe(map[string]string{"method": "Arith.Add"})
	assert.Equal(t, byObj, describe("Arith.Add"), "[NAME] is [{\"method\": NAME}]")
	assert.ElementsMatch(t, []string{"name", "kind", "args", "reply"}, keys(byObj))
	assert.Equal(t, "Arith.Add", byObj["name"])
	assert.Equal(t, "unary", byObj["kind"])
	args, ok := byObj["args"].(map[string]any)
	require.True(t, ok)
	assert.Equal(t, "object", args["type"])
	assert.Equal(t, []any{"A", "B"}, args["order"])

	raw := describe("Raw.Feed")
	assert.ElementsMatch(t, []string{"name", "kind"}, keys(raw), "no args or reply for an untyped method")
	assert.Equal(t, "server", raw["kind"])

	var d introspect.Description
	require.NoError(t, c.Call(t.Context(), introspect.DescribeMethod, "Geo.Track", &d))
	assert.Equal(t, "bidi", d.Kind)
	require.NotNil(t, d.Args)
	require.NotNil(t, d.Reply)
	assert.Equal(t, []string{"X", "Y", "at", "blob"}, d.Args.Order, "each request message")
	assert.Equal(t, []string{"X", "Y", "at"}, d.Args.Required)
	assert.Equal(t, "timestamp", d.Args.Properties["at"].Type)
	assert.Equal(t, "binary", d.Args.Properties["blob"].Type)
	assert.Equal(t, "integer", d.Reply.Properties["X"].Type, "each response message")
	assert.Equal(t, "int32", d.Reply.Properties["X"].Format)

	err = c.Call(t.Context(), introspect.DescribeMethod, "Arith.Nope", &d)
	require.Error(t, err)

	// The ferry client gets the code.
	fc := ferrytest.Pipe(t, s)
	err = fc.Call(t.Context(), introspect.DescribeMethod, "Arith.Nope", &d)
	assert.Equal(t, ferry.CodeNotFound, ferry.CodeOf(err))

	// "order" is how a plain client passes the fields: positionally.
	var sum int64
	require.NoError(t, c.Call(t.Context(), "Arith.Add", []any{int64(3), int64(4)}, &sum))
	assert.Equal(t, int64(7), sum)
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// selfEncoded encodes itself (msgpack.CustomEncoder): any value.
type selfEncoded struct{ n int }

// EncodeMsgpack writes the number as a string.
func (s selfEncoded) EncodeMsgpack(e *msgpack.Encoder) error { return e.EncodeString(fmt.Sprint(s.n)) }

// binaryID is an encoding.BinaryMarshaler.
type binaryID [2]byte

// MarshalBinary returns the bytes.
func (b binaryID) MarshalBinary() ([]byte, error) { return b[:], nil }

// textLevel is an encoding.TextMarshaler.
type textLevel int

// MarshalText names the level.
func (l textLevel) MarshalText() ([]byte, error) { return []byte(fmt.Sprint("L", int(l))), nil }

// TestAuditSchemaAsTheEncoderSeesIt: "schemas derived from the Go types
// the way Ferry's MessagePack encoder sees them": a type with its own
// encoder is any value (empty Type), a BinaryMarshaler and a
// TextMarshaler binary, as codec.Marshal writes them (the text as bin); Defs is nil when
// no recursive type was met.
func TestAuditSchemaAsTheEncoderSeesIt(t *testing.T) {
	g := introspect.NewGenerator()
	for _, tc := range []struct {
		v        any
		typ      string
		wireType msgpcode
	}{
		{selfEncoded{7}, "", wireStr},
		{binaryID{1, 2}, "binary", wireBin},
		{textLevel(3), "binary", wireBin}, // the encoder writes the text as bin
	} {
		s := g.SchemaOf(reflect.TypeOf(tc.v))
		require.NotNil(t, s)
		assert.Equal(t, tc.typ, s.Type, "%T", tc.v)
		assert.Equal(t, reflect.TypeOf(tc.v).String(), s.GoType)
		b, err := codec.Marshal(tc.v)
		require.NoError(t, err)
		assert.Equal(t, tc.wireType, kindOf(b[0]), "%T encodes as %x", tc.v, b)
	}
	assert.Nil(t, g.Defs(), "no recursive type met")
}

type msgpcode int

const (
	wireOther msgpcode = iota
	wireStr
	wireBin
)

// kindOf classifies a MessagePack value by its first byte.
func kindOf(b byte) msgpcode {
	switch {
	case b >= 0xa0 && b <= 0xbf, b == 0xd9, b == 0xda, b == 0xdb:
		return wireStr
	case b == 0xc4, b == 0xc5, b == 0xc6:
		return wireBin
	}
	return wireOther
}
