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
//     SERVING out of rotation; a server that announces shutdown (go-away)
//     gets no new calls and is drained: the calls it refuses go elsewhere.
//   - A circuit breaker per endpoint opens after consecutive failures and
//     lets one probe through after a cool-down.
//   - A call that provably did not run (ferry.NotExecuted) is retried on
//     another endpoint. A call that may have run is retried only when it
//     is idempotent (WithIdempotent, or Idempotent(ctx)); such retries
//     spend a retry budget, so retries cannot multiply the load of an
//     overloaded service. Idempotent calls may also be hedged
//     (WithHedging).
//
// A connection failure also asks the resolver to look again, so a DNS
// name that moved is followed at once rather than at the next poll.
package cluster
