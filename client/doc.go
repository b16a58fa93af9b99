// Package client calls Ferry servers, and any MessagePack-RPC server,
// three ways side by side:
//
//	err := c.Call(ctx, "Arith.Add", &Args{3, 4}, &sum)    // wait for the result
//	call := c.Go(ctx, "Arith.Add", &Args{3, 4}, &sum)     // a future: <-call.Done(), call.Err()
//	err = c.Notify(ctx, "Log.Write", "hello")             // one-way, never answered
//
// Invoke and Async are their type-checked forms. Every blocking call takes
// a context: its deadline crosses the wire and bounds the handler, and
// cancelling it cancels the handler on the server.
package client
