// Package etcd registers Ferry servers in etcd and finds them from
// clients: the registry half of Ferry's scale-out story, in its own module
// so that etcd's client (and gRPC under it) stays out of Ferry's core.
//
// A server registers its address under a lease that the Registration
// keeps alive; if the lease is ever lost (etcd restarted, a long
// partition), it registers again. While etcd does not answer, it asks its
// etcd client to reconnect every second (gRPC's own backoff grows to
// 2 min), so that it is back within the one TTL for which a restarted
// etcd renews every lease. A graceful shutdown revokes the lease,
// so clients drop the server at once; a crashed server drops out when its
// lease expires (the TTL, 10 s by default).
//
//	reg, err := etcd.Register(ctx, cli, "orders", "10.0.0.5:7000")
//	...
//	reg.Close(ctx)          // before srv.Shutdown: clients stop sending first
//	srv.Shutdown(ctx)
//
// Clients watch the service's keys through a resolver.Resolver; while etcd
// does not answer, the watcher too asks its etcd client to reconnect, so
// that it follows the keys again within seconds of etcd's return:
//
//	r, err := etcd.NewResolver(cli, "orders")
//	...
//	c, err := cluster.New(r)
//
// Keys are PREFIX/SERVICE/ADDR (PREFIX defaults to "/ferry/services/"),
// and each value is JSON: {"addr": ADDR, "attrs": {"instance": ID, ...}}.
// The instance id is random per Registration, so a client can tell a
// restarted server at the same address from the old one and reconnect at
// once.
package etcd
