// Package ferry holds the vocabulary that Ferry's clients and servers
// share: error codes and the Error type, call metadata, interceptor types,
// and Caller, the contract of everything that makes calls (a client, a
// server's view of a connected peer, a cluster client), with Call, the
// handle of an asynchronous call.
//
// Ferry is an RPC framework: a server registers methods and serves them
// on a port; a client calls them three ways side by side.
//
//	client.Call / client.Go / client.Notify        handler (net/rpc-style method or typed func)
//	        │ ctx: deadline, cancel, metadata              ▲ ctx: deadline, cancel, metadata
//	        ▼                                              │
//	   call engine: msgid table, interceptors, limits, batched writes
//	        ▼
//	   codec: MessagePack, validated before it is decoded
//	        ▼
//	   transport: one TCP connection → yamux session → streams
//
// Synchronous and asynchronous calls sit side by side, as in net/rpc:
//
//	var sum int64
//	err := c.Call(ctx, "Arith.Add", Args{A: 3, B: 4}, &sum) // blocks
//
//	call := c.Go(ctx, "Arith.Add", Args{A: 3, B: 4}, &sum)  // returns at once
//	<-call.Done()
//	err = call.Err()
//
// Every error a call returns is an *Error with a Code; CodeOf extracts it,
// and errors.Is(err, context.DeadlineExceeded) holds for a deadline that
// passed on either side. The wire format is MessagePack-RPC, documented in
// PROTOCOL.md at the repository root.
package ferry
