// Package client calls Ferry servers, and any MessagePack-RPC server,
// three ways side by side:
//
//	err := c.Call(ctx, "Arith.Add", &Args{3, 4}, &sum)    // wait for the result
//	call := c.Go(ctx, "Arith.Add", &Args{3, 4}, &sum)     // a future: <-call.Done(), call.Err()
//	err = c.Notify(ctx, "Log.Write", "hello")             // one-way, never answered
//
// A Client is a ferry.Caller, as are the Conn a client-side handler calls
// the server back on (ConnFromContext), a server.Peer and a
// cluster.Client. Invoke and Async are the type-checked forms of Call and
// Go over any of them. Every blocking call takes
// a context: its deadline crosses the wire and bounds the handler, and
// cancelling it cancels the handler on the server.
//
// Streaming calls (NewStream, and the typed OpenBidi, OpenServerStream and
// OpenClientStream) each get a session stream of their own, with flow
// control; WithStreamInterceptors wraps them as WithInterceptors wraps
// unary calls. Streams go both ways: a client registers streaming
// handlers (HandleStream, HandleBidi, HandleServerStream,
// HandleClientStream) that its server opens through a server.Peer, served
// under WithStreamServerInterceptors and WithMaxConcurrentCalls; a client
// that registers none refuses such streams with CodeUnimplemented and
// ferry.NotExecuted true. Handlers registered with WithHandlers exist
// before the connection starts, for a server that calls back as soon as
// the client connects (server.WithConnHooks).
package client
