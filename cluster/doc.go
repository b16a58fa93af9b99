// Package cluster calls a service that many servers serve, with the same
// three ways to call as package client (a Client is a ferry.Caller, so
// client.Invoke, client.Async, health.Check and pubsub.Publish take it
// too):
//
//	c, err := cluster.New(resolver.Static("10.0.0.1:7000", "10.0.0.2:7000"),
//		cluster.WithIdempotent("Catalog.Get"))
//	err = c.Call(ctx, "Catalog.Get", &req, &item)   // wait for the result
//	call := c.Go(ctx, "Catalog.Get", &req, &item)   // a future: <-call.Done(), call.Err()
//	err = c.Notify(ctx, "Log.Write", "hello")       // one-way, never answered
//
// A resolver (package resolver, or the etcd module discovery/etcd)
// streams the endpoint set; the Client keeps one connection per endpoint
// and a balancer (package balancer) picks one per call. Around that:
//
//   - Reconnects follow a Backoff: 1 s, ×1.6, ±20 % jitter, at most 30 s,
//     so that clients that lost a server do not come back in a storm. A
//     resolver that reports a new instance at the same address (changed
//     Attrs, as the etcd registry does) cuts the wait short.
//   - Active health checks (package health) keep endpoints that are not
//     SERVING out of rotation, and a new connection takes calls only once
//     its first check passes.
//   - A server that announces shutdown (go-away, client.GoingAway) gets no
//     new call from that moment: the calls in flight finish on its
//     connection, the calls it refuses as not executed go elsewhere
//     (idempotent or not), and the endpoint is dialled again at once, so
//     that a server restarted at the same address, or a new process
//     sharing its port (server.ListenReusePort), is back in rotation as
//     soon as it accepts. A rolling deploy fails no call
//     (examples/cluster -scenario rolling).
//   - Endpoints may carry a priority and a weight (resolver.AttrPriority,
//     resolver.AttrWeight; SRV records do): calls go only to the ready
//     endpoints of the lowest priority that has any, and the balancer
//     spreads them by weight (balancer.Weighted).
//   - A circuit breaker per endpoint opens after consecutive failures and
//     lets one probe through after a cool-down.
//   - A call that provably did not run (ferry.NotExecuted) is retried on
//     another endpoint, unless its credentials were refused (permission
//     denied, unauthenticated) or its request was never sent for being
//     larger, or nested deeper, than a message may be (this side's limits
//     or the server's: resource_exhausted), which every endpoint would
//     repeat; such a request counts as no failure of the endpoint. A call
//     that may have run is retried only when it
//     is idempotent (WithIdempotent, or Idempotent(ctx)); such retries
//     spend a retry budget, so retries cannot multiply the load of an
//     overloaded service. Idempotent calls may also be hedged
//     (WithHedging).
//
// Streaming calls go through the cluster too: NewStream (and the typed
// client.OpenBidi, client.OpenServerStream and client.OpenClientStream,
// given the Client) opens the stream on an endpoint the balancer picks,
// consistent-hash keys included. A stream refused before its handler
// started (ferry.NotExecuted) moves to another endpoint with the messages
// already sent; once started, a broken stream fails to the caller with
// the endpoint's address in the error. A message that does not decode
// into Recv's v breaks nothing: it is dropped, as by client.Stream.Recv,
// and the stream goes on. StreamStats counts streams opened, failed and
// moved.
//
// A connection failure also asks the resolver to look again, so a DNS
// name that moved is followed at once rather than at the next poll.
package cluster
