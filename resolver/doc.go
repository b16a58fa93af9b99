// Package resolver finds the servers of a service and streams their
// addresses to a multi-endpoint client (package cluster) as complete sets.
//
// A Resolver starts Watchers; a Watcher's Next blocks until the set
// changes and returns all of it, never a diff. An error from Next is
// transient: the client keeps the last good set and asks again. Built in:
//
//	resolver.Static("10.0.0.1:7000", "10.0.0.2:7000")  // a fixed list
//	resolver.DNS("svc.example.com:7000")               // A/AAAA records, polled
//	resolver.SRV("ferry", "tcp", "svc.example.com")    // SRV records, polled
//	resolver.NewManual()                               // sets pushed by code (tests, custom registries)
//
// An endpoint may carry a priority and a weight (AttrPriority, AttrWeight;
// SRV sets them from its records): the cluster client sends calls only to
// the ready endpoints of the lowest priority that has any, in proportion
// to weight (RFC 2782).
//
// The etcd registry lives in its own module, discovery/etcd, so that its
// dependencies stay out of this one.
package resolver
