package client

import "github.com/ferryrpc/ferry/internal/engine"

// Params is the positional params array itself, for servers whose methods
// take several params. Call, Go and Notify send any other args value v as
// the one-element MessagePack-RPC params [v] (nil as []); they send
// Params{a, b, c} as [a, b, c]. With WithPlainMsgpackRPC it calls any
// MessagePack-RPC server:
//
//	var lines []string
//	err := c.Call(ctx, "nvim_buf_get_lines", client.Params{0, 0, -1, false}, &lines)
//
// A Ferry server maps positional params onto a method's argument as it
// does for any plain MessagePack-RPC client: a struct's fields in order,
// or a slice's elements (see the server package).
type Params = engine.Params
