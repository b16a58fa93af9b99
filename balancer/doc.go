// Package balancer chooses which endpoint serves each call of a
// multi-endpoint client (package cluster).
//
// A Balancer builds a Picker each time the set of ready endpoints changes;
// the Picker chooses per call and must be safe for concurrent use. Built in:
//
//	balancer.RoundRobin()      // each endpoint in turn
//	balancer.P2C()             // power of two choices: the less busy of two at random
//	balancer.ConsistentHash()  // by the key of balancer.WithHashKey(ctx, key)
//
// Any other policy implements Balancer.
package balancer
