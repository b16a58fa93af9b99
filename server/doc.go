// Package server serves Ferry calls: register methods, net/rpc style with
// Register or type-checked with Handle, then Serve a listener.
//
// One port serves Ferry clients (a yamux session, many streams) and plain
// MessagePack-RPC clients in any language (bare TCP). Every call gets a
// context carrying the caller's deadline, metadata and cancellation.
//
// Params from plain MessagePack-RPC peers are positional arrays and map onto
// a method's single args value like this: [] leaves args at its zero value;
// [x] decodes x into args (when args is a struct and x is not a map, an
// array or nil, x is its first field); [a, b, ...] decodes the whole array
// into args, so a struct receives its fields in declaration order and a
// slice receives the elements. So `Arith.Add [3, 4]` from Python and
// c.Call(ctx, "Arith.Add", &Args{3, 4}, &r) from Go reach the same method.
//
// Arguments are taken or refused, never guessed. Fewer positional params
// than fields is allowed (the rest stay zero, so a field can be added at
// the end); more is refused. A map's keys that name no field are ignored
// (WithDisallowUnknownFields refuses them), but a non-empty map none of
// whose keys names a field is refused. Numbers convert only when exact: 4.0
// fits an int, 3.5 does not; a negative never fits an unsigned type; a
// string never fits a number; a float into a float32 is rounded to the
// nearest float32 (refused past its range). A refusal reaches the caller as
// CodeInvalidArgument with a message such as
// "Arith.Add: argument 1 (A): want an integer, got 3.5", and the handler
// does not run. PROTOCOL.md (section 2.1) has the full rules.
//
// Streaming methods (HandleStream, HandleBidi, HandleServerStream,
// HandleClientStream) live in the same method table as unary ones: a name
// is checked by the same rules and registered once, as one kind, and
// Methods (and so introspection) lists each with its kind and message
// types. WithStreamInterceptors wraps every stream a client opens, as
// WithInterceptors wraps unary calls: an interceptor sees the method, its
// kind and the metadata, may refuse the stream before the handler runs
// (the caller gets its code with ferry.NotExecuted true) and may wrap the
// stream to observe or transform each message. A handler, or a Peer kept
// from one, also opens streams to the streaming handlers its client
// registered (Peer.NewStream, or client.OpenBidi and its siblings given
// the Peer), under WithStreamClientInterceptors.
//
// A handler's reply belongs to Ferry once the handler returns: it is
// encoded after that, and a []byte or codec.Raw reply of 64 KiB or more is
// written from the handler's own slice, without a copy. Do not change a
// returned reply (or what it points to) afterwards.
//
// Shutdown drains gracefully: clients are told to go away, running calls
// finish, and every call a Ferry client sent is answered or refused as not
// executed. To restart a server without refusing a connection, the new
// process listens on the same port with ListenReusePort (SO_REUSEPORT,
// Linux) and serves before the old one calls Shutdown; examples/restart
// shows it.
package server
