// Package arith holds the services of the arith example, shared by its
// server, its client and the interop tests in other languages.
//
// Methods, with params as a MessagePack-RPC client sends them:
//
//	Echo.Echo [x]     -> x, unchanged (any msgpack value)
//	Echo.Map [m]      -> m, a map with str keys, decoded and encoded again
//	Arith.Add [a, b]  -> a+b (int64, wrapping around on overflow)
//	Arith.Div [a, b]  -> a/b truncated toward zero; b = 0 is an error
//	                     (ferry.CodeInvalidArgument, "division by zero")
//	Arith.Mul [a, b]  -> a*b (int64, wrapping around as Add does), a typed
//	                     handler registered with server.Handle
//
// Streaming methods (Ferry clients only: they need a session):
//
//	Counter.Count     server streaming: one request n, then the messages
//	                  1, 2, ..., n (int64), then the end; n outside
//	                  0..1,000,000 is ferry.CodeInvalidArgument
//	Echo.Chat         bidi: every message comes back, unchanged, until the
//	                  caller closes its side
//
// A Go client passes Args where a MessagePack-RPC client passes [a, b].
package arith

import (
	"context"
	"io"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/server"
)

// Args are the two operands of the Arith methods. From a plain
// MessagePack-RPC client they arrive as the params array [a, b].
type Args struct {
	A, B int64
}

// Arith does integer arithmetic. It is registered net/rpc style, with
// server.Register, which publishes every exported method as "Arith.Name".
type Arith struct{}

// Add returns A+B. Like Go's own arithmetic it wraps around on int64
// overflow.
func (Arith) Add(ctx context.Context, args Args, reply *int64) error {
	*reply = args.A + args.B
	return nil
}

// Div returns A/B truncated toward zero (and, as in Go, MinInt64 / -1 =
// MinInt64). B = 0 is an error response with ferry.CodeInvalidArgument and
// the message "division by zero"; the connection stays open.
func (Arith) Div(ctx context.Context, args Args, reply *int64) error {
	if args.B == 0 {
		return ferry.NewError(ferry.CodeInvalidArgument, "division by zero")
	}
	*reply = args.A / args.B
	return nil
}

// Mul returns A*B; like Add, it wraps around on int64 overflow
// (MaxInt64 * 2 = -2). It is the typed form of a handler: Register publishes
// it as "Arith.Mul" with server.Handle, so its types are checked at compile
// time.
func Mul(ctx context.Context, args *Args) (*int64, error) {
	p := args.A * args.B
	return &p, nil
}

// Echo returns what it is given.
type Echo struct{}

// Echo returns x unchanged. codec.Raw passes the encoded value through
// without decoding it, so every msgpack value comes back byte for byte:
// str stays str and bin stays bin, integers keep their width, maps keep
// integer keys.
func (Echo) Echo(ctx context.Context, x codec.Raw, reply *codec.Raw) error {
	*reply = x
	return nil
}

// Map returns m, decoded into a map[string]any and encoded again: unlike
// Echo, it exercises the decoding of dynamic values (nested maps, arrays,
// and any scalar) from untrusted input.
func (Echo) Map(ctx context.Context, m map[string]any, reply *map[string]any) error {
	*reply = m
	return nil
}

// MaxCount bounds Counter.Count's n.
const MaxCount = 1_000_000

// Count sends 1..n, one message each: the server-streaming method
// Counter.Count. It stops early when the caller goes away.
func Count(ctx context.Context, n *int64, send func(*int64) error) error {
	if *n < 0 || *n > MaxCount {
		return ferry.Errorf(ferry.CodeInvalidArgument, "n = %d is outside 0..%d", *n, MaxCount)
	}
	for i := int64(1); i <= *n; i++ {
		if err := send(&i); err != nil {
			return err
		}
	}
	return nil
}

// Chat echoes every message back unchanged (codec.Raw, like Echo.Echo):
// the bidi method Echo.Chat. It returns when the caller closes its side.
func Chat(ctx context.Context, st *server.BidiStream[codec.Raw, codec.Raw]) error {
	for {
		m, err := st.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := st.Send(m); err != nil {
			return err
		}
	}
}

// Register publishes Arith (Add, Div), Arith.Mul, Echo, and the streaming
// methods Counter.Count and Echo.Chat on s.
func Register(s *server.Server) error {
	if err := s.Register(Arith{}); err != nil {
		return err
	}
	if err := server.Handle(s, "Arith.Mul", Mul); err != nil {
		return err
	}
	if err := s.Register(Echo{}); err != nil {
		return err
	}
	if err := server.HandleServerStream(s, "Counter.Count", Count); err != nil {
		return err
	}
	return server.HandleBidi(s, "Echo.Chat", Chat)
}
