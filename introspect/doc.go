// Package introspect is an optional built-in service that tells clients
// which methods a server offers and the shape of their arguments and
// replies, the way gRPC's reflection service does for protobuf. The ferry
// CLI's "list" and "describe" commands use it.
//
//	s := server.New()
//	// ... register services ...
//	if err := introspect.Register(s); err != nil { ... }
//
// Register publishes two methods, answering from the server's method table
// at the time of each call (methods registered later appear too):
//
//	Introspect.List      params [] or [{}]              -> ListReply
//	Introspect.Describe  params [{"method": "Svc.M"}]   -> Description
//
// Introspect.List returns {"services": [{"name": "Arith", "methods":
// [{"name": "Arith.Add", "kind": "unary"}, ...]}, ...]}, services and
// methods sorted by name. Kind is "unary", or for streaming methods "bidi",
// "server" or "client".
//
// Introspect.Describe returns {"name", "kind", "args", "reply", "$defs"}
// for one method; an unknown method is a ferry.CodeNotFound error. "args"
// and "reply" are schemas derived from the Go types the way Ferry's
// MessagePack encoder sees them (see Schema): JSON Schema's vocabulary
// (type, properties, required, items, additionalProperties, $ref, $defs)
// with MessagePack's field names (a `msgpack:"name"` tag wins over the Go
// name, `msgpack:"-"` hides a field, embedded structs are inlined) and
// two extra types, "binary" and "timestamp". A field is required when the
// encoder always writes it (no omitempty). A recursive type is described
// once under "$defs" and referred to with "$ref": "#/$defs/NAME". "order"
// lists a struct's fields in declaration order, the order in which a plain
// MessagePack-RPC client passes them as positional params ([a, b] for
// Args{A, B}). "args" or "reply" is absent for methods registered without
// types.
//
// Both are ordinary methods: a server's authentication (server.WithAuth)
// and interceptors, an auth.Policy among them, apply to them as to any
// other, so a policy that does not allow "Introspect.*" to an identity
// keeps the method list from it. Their replies depend on the method table
// alone, not on the connections or streams the server holds.
package introspect
