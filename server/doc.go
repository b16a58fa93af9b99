// Package server serves Ferry calls: register methods, net/rpc style with
// Register or type-checked with Handle, then Serve a listener.
//
// One port serves Ferry clients (a yamux session, many streams) and plain
// MessagePack-RPC clients in any language (bare TCP). Every call gets a
// context carrying the caller's deadline, metadata and cancellation.
//
// Params from plain MessagePack-RPC peers are positional arrays and map onto
// a method's single args value like this: [] leaves args at its zero value;
// [x] decodes x into args; [a, b, ...] decodes the whole array into args,
// so a struct receives its fields in declaration order and a slice receives
// the elements. So `Arith.Add [3, 4]` from Python and
// c.Call(ctx, "Arith.Add", &Args{3, 4}, &r) from Go reach the same method.
package server
