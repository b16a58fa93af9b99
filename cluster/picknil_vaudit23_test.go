package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/balancer"
	"github.com/ferryrpc/ferry/cluster"
	"github.com/ferryrpc/ferry/resolver"
	"github.com/stretchr/testify/assert"
)

// v23Policy is a custom policy (cluster.WithBalancer) whose Picker returns
// pick(ready) for every call.
type v23Policy struct {
	pick func(ready []balancer.Endpoint) balancer.Endpoint
}

func (p v23Policy) Build(ready []balancer.Endpoint) balancer.Picker { return v23Picker{p, ready} }

type v23Picker struct {
	p     v23Policy
	ready []balancer.Endpoint
}

func (p v23Picker) Pick(*balancer.Info) balancer.Endpoint { return p.p.pick(p.ready) }

// v23Other is an Endpoint that is none of those the Picker was built with.
type v23Other struct{ balancer.Endpoint }

// TestVaudit23CustomPickerNil: balancer.Picker's Pick "returns one of the
// endpoints the Picker was built with, or nil when it has none", and
// cluster.WithBalancer takes any policy. A Picker that returned nil (a
// zone filter left with no endpoint of its zone, say), or an endpoint of
// its own type, made every call panic in the caller's goroutine (an
// interface conversion), taking the process down. The call now fails,
// at once, as not executed with code unavailable.
func TestVaudit23CustomPickerNil(t *testing.T) {
	n := startNode(t, "a")
	for name, pick := range map[string]func([]balancer.Endpoint) balancer.Endpoint{
		"nil":     func([]balancer.Endpoint) balancer.Endpoint { return nil },
		"foreign": func(ready []balancer.Endpoint) balancer.Endpoint { return v23Other{ready[0]} },
	} {
		c := newClient(t, resolver.Static(n.addr), cluster.WithBalancer(v23Policy{pick}))
		waitReady(t, c, 1)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		var err error
		start := time.Now()
		assert.NotPanics(t, func() {
			var who string
			err = c.Call(ctx, "Svc.Who", struct{}{}, &who)
		}, name)
		cancel()
		assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%s: %v", name, err)
		assert.True(t, ferry.NotExecuted(err), "%s: %v", name, err)
		assert.Less(t, time.Since(start), 2*time.Second, name)
		assert.Zero(t, n.served.Load(), name)
	}
}
