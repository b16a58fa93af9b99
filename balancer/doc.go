// Package balancer chooses which endpoint serves each call of a
// multi-endpoint client (package cluster).
//
// A Balancer builds a Picker each time the set of ready endpoints changes;
// the Picker chooses per call and must be safe for concurrent use. Built in:
//
//	balancer.RoundRobin()      // each endpoint in turn
//	balancer.P2C()             // power of two choices: the less busy of two at random
//	balancer.ConsistentHash()  // by the key of balancer.WithHashKey(ctx, key)
//	balancer.BoundedConsistentHash(0.25)  // the same, no endpoint above 1.25 × the mean load
//
// Consistent hashing alone follows the keys, so skewed keys make skewed
// load: with Zipf(s = 1.1) keys over 10 endpoints, the busiest endpoint
// carried 2.15 times the mean of the calls in flight (2.46 at worst);
// with bounded loads (ε = 0.25) it carried 1.24 times the mean (1.25 at
// worst), and 1.10 with ε = 0.1, while a key still goes to its owner
// unless the owner is full. When one of 10 endpoints leaves, 10.9 % of
// the keys move on the plain ring (the ideal is 10 %). The figures come
// from TestBoundedLoadUnderSkew (go test -v -run BoundedLoad).
//
// Any other policy implements Balancer.
package balancer
