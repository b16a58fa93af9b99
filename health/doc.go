// Package health is Ferry's standard health service, the same idea as
// gRPC's health checking protocol on MessagePack-RPC.
//
// A server registers one method, "Health.Check". Its argument is a map
// {"service": name} and its result a map {"status": s} with s one of
// "SERVING", "NOT_SERVING" or "UNKNOWN". The service "" stands for the
// whole server; a name that was never set reports "UNKNOWN". Any
// MessagePack-RPC client can call it:
//
//	hs := health.NewServer()             // "" is SERVING
//	hs.Register(srv)                     // srv is a *server.Server
//	hs.SetStatus("Orders", health.Serving)
//	...
//	hs.Shutdown()                        // everything NOT_SERVING, before srv.Shutdown
//
// Check calls it through any ferry.Caller (a client.Client, a
// cluster.Client); package cluster calls it on every
// endpoint to keep unhealthy ones out of rotation.
package health
