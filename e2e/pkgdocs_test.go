package e2e_test

// Promises of the Go package documentation (go doc -all), checked one by
// one: defaults and their values, option ranges, the vocabulary of the
// root package and codec's decoding rules. Each test names the doc it
// checks.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"reflect"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPkgDocsCodes checks the root package's Code docs: gRPC's numbers,
// snake_case names, "code_N" outside the set, Valid, and CodeOf's mapping
// (an *Error's code, context errors, CodeUnknown, 0 for nil).
func TestPkgDocsCodes(t *testing.T) {
	names := map[ferry.Code]string{
		1: "canceled", 2: "unknown", 3: "invalid_argument", 4: "deadline_exceeded",
		5: "not_found", 6: "already_exists", 7: "permission_denied", 8: "resource_exhausted",
		9: "failed_precondition", 10: "aborted", 11: "out_of_range", 12: "unimplemented",
		13: "internal", 14: "unavailable", 15: "data_loss", 16: "unauthenticated",
	}
	for c, name := range names {
		assert.Equal(t, name, c.String())
		assert.True(t, c.Valid(), "code %d", c)
	}
	assert.Equal(t, ferry.Code(16), ferry.CodeUnauthenticated)
	assert.Equal(t, ferry.Code(8), ferry.CodeResourceExhausted)
	for _, c := range []ferry.Code{0, 17, 1000} {
		assert.False(t, c.Valid(), "code %d", c)
		assert.Equal(t, fmt.Sprintf("code_%d", c), c.String())
	}

	assert.Equal(t, ferry.Code(0), ferry.CodeOf(nil))
	assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(context.Canceled))
	assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(fmt.Errorf("wrapped: %w", context.DeadlineExceeded)))
	assert.Equal(t, ferry.CodeUnknown, ferry.CodeOf(io.EOF))
	assert.Equal(t, ferry.CodeNotFound, ferry.CodeOf(fmt.Errorf("outer: %w", ferry.NewError(ferry.CodeNotFound, "x"))))
}

// TestPkgDocsErrorType checks Error's docs: "ferry: <code>: <message>",
// FromError returns an *Error as is and maps the rest, WrapError unwraps
// to its cause, WithDetail sets a detail, a remote-style Canceled or
// DeadlineExceeded unwraps to the context error, and MarkNotExecuted
// returns a flagged copy.
func TestPkgDocsErrorType(t *testing.T) {
	e := ferry.Errorf(ferry.CodeNotFound, "item %d", 7)
	assert.Equal(t, "ferry: not_found: item 7", e.Error())

	assert.Same(t, e, ferry.FromError(fmt.Errorf("outer: %w", e)))
	assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.FromError(context.DeadlineExceeded).Code)
	other := ferry.FromError(errors.New("disk full"))
	assert.Equal(t, ferry.CodeUnknown, other.Code)
	assert.Contains(t, other.Message, "disk full")

	cause := errors.New("the cause")
	w := ferry.WrapError(ferry.CodeInternal, cause, "wrapped")
	assert.ErrorIs(t, w, cause)
	assert.Equal(t, "v", w.WithDetail("k", "v").Details["k"])

	assert.ErrorIs(t, ferry.NewError(ferry.CodeCanceled, "remote"), context.Canceled)
	assert.ErrorIs(t, ferry.NewError(ferry.CodeDeadlineExceeded, "remote"), context.DeadlineExceeded)

	plain := ferry.NewError(ferry.CodeResourceExhausted, "busy")
	marked := ferry.MarkNotExecuted(plain)
	assert.True(t, ferry.NotExecuted(marked))
	assert.False(t, ferry.NotExecuted(plain), "MarkNotExecuted returns a copy")
	assert.NotSame(t, plain, marked)
	assert.False(t, ferry.NotExecuted(errors.New("other")))
}

// TestPkgDocsMetadata checks the metadata docs: WithOutgoingMetadata
// merges (md's values win) and copies md; NewOutgoingContext replaces;
// String redacts secret-looking keys, also when a context carrying the
// metadata is printed; keys are case-sensitive.
func TestPkgDocsMetadata(t *testing.T) {
	md := ferry.Metadata{"a": "1", "b": "2"}
	ctx := ferry.WithOutgoingMetadata(context.Background(), md)
	md["a"] = "changed"
	assert.Equal(t, ferry.Metadata{"a": "1", "b": "2"}, ferry.OutgoingMetadata(ctx), "md is copied")

	ctx = ferry.WithOutgoingMetadata(ctx, ferry.Metadata{"b": "3", "B": "4"})
	assert.Equal(t, ferry.Metadata{"a": "1", "b": "3", "B": "4"}, ferry.OutgoingMetadata(ctx), "merged, md wins, keys case-sensitive")

	ctx = ferry.NewOutgoingContext(ctx, ferry.Metadata{"only": "x"})
	assert.Equal(t, ferry.Metadata{"only": "x"}, ferry.OutgoingMetadata(ctx), "replaced, not merged")

	secret := "s3cr3t-value-0123456789"
	sens := ferry.Metadata{"authorization": secret, "x-api-token": secret, "password": secret, "cookie": secret, "api-key": secret, "plain": "visible"}
	s := sens.String()
	assert.NotContains(t, s, secret)
	assert.Contains(t, s, "visible")
	out := fmt.Sprint(ferry.WithOutgoingMetadata(context.Background(), sens))
	assert.NotContains(t, out, secret, "a context carrying metadata")
	in := fmt.Sprint(ferry.NewIncomingContext(context.Background(), sens))
	assert.NotContains(t, in, secret, "a context carrying incoming metadata")

	ictx := ferry.NewIncomingContext(context.Background(), ferry.Metadata{"k": "v"})
	v, ok := ferry.IncomingMetadataValue(ictx, "k")
	assert.True(t, ok)
	assert.Equal(t, "v", v)
	_, ok = ferry.IncomingMetadataValue(ictx, "K")
	assert.False(t, ok)
	assert.Nil(t, ferry.IdentityFromContext(context.Background()))
	assert.Equal(t, "bob", ferry.IdentityFromContext(ferry.WithIdentity(context.Background(), "bob")))
}

// TestPkgDocsAuthInfoString checks "String describes the connection
// without revealing the token."
func TestPkgDocsAuthInfoString(t *testing.T) {
	info := ferry.AuthInfo{RemoteAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}, Token: "tok-0123456789abcdef"}
	assert.NotContains(t, info.String(), "tok-0123456789abcdef")
	assert.NotContains(t, fmt.Sprintf("%+v", info), "tok-0123456789abcdef")
}

// TestPkgDocsChains checks "It returns nil for an empty list" and "the
// first outermost" for the four Chain functions, and StreamKind.String.
func TestPkgDocsChains(t *testing.T) {
	assert.Nil(t, ferry.ChainClient())
	assert.Nil(t, ferry.ChainServer())
	assert.Nil(t, ferry.ChainStreamClient())
	assert.Nil(t, ferry.ChainStreamServer())

	var order []string
	mk := func(name string) ferry.ServerInterceptor {
		return func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
			order = append(order, name)
			return next(ctx, args)
		}
	}
	chain := ferry.ChainServer(mk("first"), mk("second"))
	_, err := chain(context.Background(), &ferry.CallInfo{Method: "S.M"}, nil, func(context.Context, any) (any, error) {
		order = append(order, "handler")
		return nil, nil
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"first", "second", "handler"}, order)

	var corder []string
	mc := func(name string) ferry.ClientInterceptor {
		return func(ctx context.Context, info *ferry.CallInfo, args, reply any, next ferry.Invoker) error {
			corder = append(corder, name)
			return next(ctx, info, args, reply)
		}
	}
	require.NoError(t, ferry.ChainClient(mc("first"), mc("second"))(context.Background(), &ferry.CallInfo{}, nil, nil,
		func(context.Context, *ferry.CallInfo, any, any) error { corder = append(corder, "send"); return nil }))
	assert.Equal(t, []string{"first", "second", "send"}, corder)

	assert.Equal(t, "bidi", ferry.BidiStreaming.String())
	assert.Equal(t, "server", ferry.ServerStreaming.String())
	assert.Equal(t, "client", ferry.ClientStreaming.String())
}

// TestPkgDocsCodecDecoding checks codec's docs: a value that fits its
// target only with a loss is refused (3.5 into an int, 300 into an int8,
// a negative into a uint, a string into a number) with ErrDecode; an
// integral float goes into an int; nil leaves the zero value; nesting past
// MaxDepth and a declared length beyond the bytes are refused; Unmarshal
// needs a non-nil pointer; Validate returns the first value's length; a
// nil Raw encodes as msgpack nil.
func TestPkgDocsCodecDecoding(t *testing.T) {
	mustEnc := func(v any) []byte {
		b, err := codec.Marshal(v)
		require.NoError(t, err)
		return b
	}
	var i int
	assert.ErrorIs(t, codec.Unmarshal(mustEnc(3.5), &i), codec.ErrDecode)
	require.NoError(t, codec.Unmarshal(mustEnc(4.0), &i))
	assert.Equal(t, 4, i)
	var i8 int8
	assert.ErrorIs(t, codec.Unmarshal(mustEnc(300), &i8), codec.ErrDecode)
	var u uint
	assert.ErrorIs(t, codec.Unmarshal(mustEnc(-1), &u), codec.ErrDecode)
	assert.ErrorIs(t, codec.Unmarshal(mustEnc("12"), &i), codec.ErrDecode)
	var f float64
	require.NoError(t, codec.Unmarshal(mustEnc(7), &f))
	assert.Equal(t, 7.0, f)

	s := "kept"
	require.NoError(t, codec.Unmarshal([]byte{0xc0}, &s))
	assert.Equal(t, "", s, "nil leaves the zero value")

	deep := func(n int) []byte {
		b := make([]byte, 0, n+1)
		for range n {
			b = append(b, 0x91) // fixarray of one
		}
		return append(b, 0x01)
	}
	var v any
	require.NoError(t, codec.Unmarshal(deep(codec.MaxDepth), &v))
	assert.ErrorIs(t, codec.Unmarshal(deep(codec.MaxDepth+1), &v), codec.ErrDecode)
	assert.Error(t, codec.Unmarshal([]byte{0xdd, 0xff, 0xff, 0xff, 0xff}, &v), "declared length past the bytes")
	assert.Error(t, codec.Unmarshal(append(mustEnc(1), mustEnc(2)...), &v), "at most one value")
	assert.Error(t, codec.Unmarshal(mustEnc(1), nil))
	assert.Error(t, codec.Unmarshal(mustEnc(1), i), "not a pointer")

	two := append(mustEnc("ab"), 0x01)
	n, err := codec.Validate(two)
	require.NoError(t, err)
	assert.Equal(t, 3, n)

	assert.Equal(t, []byte{0xc0}, mustEnc(codec.Raw(nil)))
	var raw codec.Raw
	require.NoError(t, codec.Unmarshal(mustEnc(map[string]any{"x": []any{1, "y"}}), &raw))
	assert.Equal(t, mustEnc(map[string]any{"x": []any{1, "y"}}), mustEnc(raw), "passed through unchanged")
}

// TestPkgDocsTransportDefaults checks every default documented on
// transport.Config against DefaultConfig, and ConnBudget and
// DeadPeerTimeout as documented.
func TestPkgDocsTransportDefaults(t *testing.T) {
	c := transport.DefaultConfig()
	assert.Equal(t, 4<<20, c.MaxMessageSize)
	assert.Equal(t, 64, c.MaxDepth)
	assert.Equal(t, 15*time.Second, c.KeepAliveInterval)
	assert.Equal(t, 10*time.Second, c.WriteTimeout)
	assert.Equal(t, 15*time.Second, c.StreamCloseTimeout)
	assert.Equal(t, 10*time.Second, c.StreamOpenTimeout)
	assert.Equal(t, 64, c.AcceptBacklog)
	assert.Equal(t, uint32(1<<20), c.StreamWindow)
	assert.Equal(t, 10*time.Second, c.SniffTimeout)
	assert.Equal(t, 1024, c.MaxStreams)
	assert.Equal(t, int64(64<<20), c.MemoryBudget)
	assert.Equal(t, 10*time.Second, c.PartialMessageTimeout)
	assert.Nil(t, c.Logger)
	require.NoError(t, c.Validate())

	assert.Equal(t, 25*time.Second, c.DeadPeerTimeout(), "KeepAliveInterval + WriteTimeout")
	c.KeepAliveInterval = 0
	require.NoError(t, c.Validate(), "zero disables keepalives")
	assert.Equal(t, 10*time.Second, c.DeadPeerTimeout(), "WriteTimeout alone")

	c = transport.DefaultConfig()
	assert.Equal(t, int64(64<<20), c.ConnBudget())
	c.MaxMessageSize = 64 << 20
	c.MemoryBudget = 1 << 20
	assert.Equal(t, int64(2*(64<<20)+1<<20), c.ConnBudget(), "raised to 2 × MaxMessageSize + 1 MiB")
}

// TestPkgDocsTransportRanges checks every documented range of
// transport.Config: both ends accepted, one step past either refused.
func TestPkgDocsTransportRanges(t *testing.T) {
	type edit func(*transport.Config)
	cases := []struct {
		name    string
		ok, bad []edit
	}{
		{"MaxMessageSize 1 KiB..1 GiB",
			[]edit{func(c *transport.Config) { c.MaxMessageSize = 1 << 10 }, func(c *transport.Config) { c.MaxMessageSize = 1 << 30 }},
			[]edit{func(c *transport.Config) { c.MaxMessageSize = 1<<10 - 1 }, func(c *transport.Config) { c.MaxMessageSize = 1<<30 + 1 }}},
		{"MaxDepth 4..1000",
			[]edit{func(c *transport.Config) { c.MaxDepth = 4 }, func(c *transport.Config) { c.MaxDepth = 1000 }},
			[]edit{func(c *transport.Config) { c.MaxDepth = 3 }, func(c *transport.Config) { c.MaxDepth = 1001 }}},
		{"KeepAliveInterval not negative",
			[]edit{func(c *transport.Config) { c.KeepAliveInterval = 0 }},
			[]edit{func(c *transport.Config) { c.KeepAliveInterval = -time.Second }}},
		{"WriteTimeout 100ms..10m",
			[]edit{func(c *transport.Config) { c.WriteTimeout = 100 * time.Millisecond }, func(c *transport.Config) { c.WriteTimeout = 10 * time.Minute }},
			[]edit{func(c *transport.Config) { c.WriteTimeout = 99 * time.Millisecond }, func(c *transport.Config) { c.WriteTimeout = 10*time.Minute + 1 }}},
		{"StreamWindow 256 KiB..64 MiB",
			[]edit{func(c *transport.Config) { c.StreamWindow = 256 << 10 }, func(c *transport.Config) { c.StreamWindow = 64 << 20 }},
			[]edit{func(c *transport.Config) { c.StreamWindow = 256<<10 - 1 }, func(c *transport.Config) { c.StreamWindow = 64<<20 + 1 }}},
		{"MaxStreams 1..65536",
			[]edit{func(c *transport.Config) { c.MaxStreams = 1 }, func(c *transport.Config) { c.MaxStreams = 65536 }},
			[]edit{func(c *transport.Config) { c.MaxStreams = 0 }, func(c *transport.Config) { c.MaxStreams = 65537 }}},
		{"MemoryBudget 1 MiB..64 GiB",
			[]edit{func(c *transport.Config) { c.MemoryBudget = 1 << 20 }, func(c *transport.Config) { c.MemoryBudget = 64 << 30 }},
			[]edit{func(c *transport.Config) { c.MemoryBudget = 1<<20 - 1 }, func(c *transport.Config) { c.MemoryBudget = 64<<30 + 1 }}},
		{"PartialMessageTimeout 100ms..10m",
			[]edit{func(c *transport.Config) { c.PartialMessageTimeout = 100 * time.Millisecond }, func(c *transport.Config) { c.PartialMessageTimeout = 10 * time.Minute }},
			[]edit{func(c *transport.Config) { c.PartialMessageTimeout = 99 * time.Millisecond }, func(c *transport.Config) { c.PartialMessageTimeout = 10*time.Minute + 1 }}},
	}
	for _, tc := range cases {
		for i, e := range tc.ok {
			c := transport.DefaultConfig()
			e(&c)
			assert.NoError(t, c.Validate(), "%s: ok %d", tc.name, i)
		}
		for i, e := range tc.bad {
			c := transport.DefaultConfig()
			e(&c)
			err := c.Validate()
			if assert.Error(t, err, "%s: bad %d", tc.name, i) {
				assert.True(t, strings.HasPrefix(err.Error(), "ferry: "), err.Error())
			}
		}
	}
}

// TestPkgDocsClientOptionRanges checks client.WithMaxConcurrentCalls
// ("range 1 to 1,048,576") and WithConfig ("it must pass
// Config.Validate"): an invalid value makes Dial and New return an error.
func TestPkgDocsClientOptionRanges(t *testing.T) {
	addr := arithServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, n := range []int{1, 1 << 20} {
		c, err := client.Dial(ctx, addr, client.WithMaxConcurrentCalls(n))
		require.NoError(t, err, "n=%d", n)
		c.Close()
	}
	bad := transport.DefaultConfig()
	bad.MaxDepth = 3
	for _, opt := range []client.Option{client.WithMaxConcurrentCalls(0), client.WithMaxConcurrentCalls(1<<20 + 1),
		client.WithConfig(bad), client.WithTLS(nil), client.WithServerAuth(nil)} {
		c, err := client.Dial(ctx, addr, opt)
		require.Error(t, err)
		assert.Nil(t, c)
		a, b := net.Pipe()
		c, err = client.New(a, opt)
		assert.Error(t, err)
		assert.Nil(t, c)
		a.Close()
		b.Close()
	}
}

// TestPkgDocsServerOptionRanges checks the server options' ranges
// (WithMaxConcurrentCalls 1 to 1,048,576; WithMemoryBudget 1 MiB to 1 TiB;
// WithConnLimits not negative; WithConfig must pass Validate): an invalid
// option is reported by Serve.
func TestPkgDocsServerOptionRanges(t *testing.T) {
	bad := transport.DefaultConfig()
	bad.MaxStreams = 0
	for _, opt := range []server.Option{
		server.WithMaxConcurrentCalls(0), server.WithMaxConcurrentCalls(1<<20 + 1),
		server.WithMemoryBudget(1<<20 - 1), server.WithMemoryBudget(1<<40 + 1),
		server.WithConnLimits(-1, 0), server.WithConnLimits(0, -1),
		server.WithConfig(bad), server.WithTLS(nil),
	} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		s := server.New(opt)
		err = s.Serve(l)
		require.Error(t, err)
		assert.NotErrorIs(t, err, server.ErrServerClosed)
		assert.True(t, strings.HasPrefix(err.Error(), "ferry: "), err.Error())
		s.Close()
	}
	for _, opt := range []server.Option{
		server.WithMaxConcurrentCalls(1), server.WithMaxConcurrentCalls(1 << 20),
		server.WithMemoryBudget(1 << 20), server.WithMemoryBudget(1 << 40),
		server.WithConnLimits(0, 0),
	} {
		addr := arithServer(t, opt)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := client.Dial(ctx, addr)
		require.NoError(t, err)
		var sum int
		require.NoError(t, c.Call(ctx, "Arith.Add", map[string]int{"A": 1, "B": 2}, &sum))
		assert.Equal(t, 3, sum)
		c.Close()
		cancel()
	}
}

// TestPkgDocsDefaultMemoryBudget checks server.DefaultMemoryBudget: "a
// quarter of the process's Go memory limit (debug.SetMemoryLimit,
// GOMEMLIMIT) when one is set, otherwise 128 MiB" (at least 16 MiB, as
// README.md and SECURITY.md say).
func TestPkgDocsDefaultMemoryBudget(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })

	debug.SetMemoryLimit(math.MaxInt64)
	assert.Equal(t, int64(128<<20), server.DefaultMemoryBudget(), "no limit set")
	debug.SetMemoryLimit(4 << 30)
	assert.Equal(t, int64(1<<30), server.DefaultMemoryBudget(), "a quarter of 4 GiB")
	debug.SetMemoryLimit(32 << 20)
	assert.Equal(t, int64(16<<20), server.DefaultMemoryBudget(), "a quarter of 32 MiB is below the 16 MiB floor")
	debug.SetMemoryLimit(old)
}

// TestPkgDocsNoYamuxInAPI checks transport's package doc: streams are
// "tuned and wrapped so that no yamux type appears in Ferry's API": no
// exported field, method parameter or result of transport's types is a
// yamux type.
func TestPkgDocsNoYamuxInAPI(t *testing.T) {
	isYamux := func(ty reflect.Type) bool {
		for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice || ty.Kind() == reflect.Chan || ty.Kind() == reflect.Map {
			ty = ty.Elem()
		}
		return strings.Contains(ty.PkgPath(), "yamux")
	}
	for _, ty := range []reflect.Type{
		reflect.TypeFor[*transport.Session](), reflect.TypeFor[*transport.Stream](), reflect.TypeFor[transport.Config](),
		reflect.TypeFor[*transport.Budget](), reflect.TypeFor[*transport.Pool](), reflect.TypeFor[transport.Protocol](),
	} {
		for i := range ty.NumMethod() {
			m := ty.Method(i)
			for j := range m.Type.NumIn() {
				assert.False(t, isYamux(m.Type.In(j)), "%v.%s takes %v", ty, m.Name, m.Type.In(j))
			}
			for j := range m.Type.NumOut() {
				assert.False(t, isYamux(m.Type.Out(j)), "%v.%s returns %v", ty, m.Name, m.Type.Out(j))
			}
		}
		st := ty
		if st.Kind() == reflect.Pointer {
			st = st.Elem()
		}
		if st.Kind() != reflect.Struct {
			continue
		}
		for i := range st.NumField() {
			f := st.Field(i)
			if f.IsExported() {
				assert.False(t, isYamux(f.Type), "%v.%s is %v", st, f.Name, f.Type)
			}
		}
	}
}

// TestPkgDocsCodecMarshal checks codec.Marshal: "integers in their
// smallest form, structs as maps keyed by field name or `msgpack` tag",
// omitempty honoured.
func TestPkgDocsCodecMarshal(t *testing.T) {
	for v, want := range map[any][]byte{
		int64(1):    {0x01},
		int64(-1):   {0xff},
		uint64(300): {0xcd, 0x01, 0x2c},
		int32(-200): {0xd1, 0xff, 0x38},
		uint16(7):   {0x07},
	} {
		got, err := codec.Marshal(v)
		require.NoError(t, err)
		assert.Equal(t, want, got, "%T %v", v, v)
	}
	type tagged struct {
		Name string `msgpack:"n"`
		Skip string `msgpack:",omitempty"`
		Age  int
	}
	got, err := codec.Marshal(tagged{Name: "x", Age: 2})
	require.NoError(t, err)
	assert.Equal(t, []byte{0x82, 0xa1, 'n', 0xa1, 'x', 0xa3, 'A', 'g', 'e', 0x02}, got)
}
