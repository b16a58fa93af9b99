package cluster

import (
	"testing"
	"time"

	"github.com/ferryrpc/ferry/balancer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDocumentedDefaults checks the defaults the option docs state: P2C,
// a 5 s dial timeout, DefaultBackoff, health checks of service "" every
// 2 s with a 1 s timeout, a breaker of 5 failures and 5 s, 3 attempts, a
// retry budget of 0.1 and 10, a 30 s drain, no hedging, no idempotent
// methods, WithWaitForReady off; and that WithHealthCheck with interval 0
// and timeout 0 keeps the default timeout.
func TestDocumentedDefaults(t *testing.T) {
	o := defaultOptions()
	assert.Equal(t, balancer.P2C(), o.balancer)
	assert.Equal(t, 5*time.Second, o.dialTimeout)
	assert.Equal(t, DefaultBackoff(), o.backoff)
	assert.Equal(t, "", o.healthService)
	assert.Equal(t, 2*time.Second, o.healthEvery)
	assert.Equal(t, time.Second, o.healthTimeout)
	assert.Equal(t, 5, o.breakAfter)
	assert.Equal(t, 5*time.Second, o.coolDown)
	assert.Equal(t, 3, o.maxAttempts)
	assert.Equal(t, 0.1, o.budgetRatio)
	assert.Equal(t, 10.0, o.budgetFloor)
	assert.Equal(t, 30*time.Second, o.drainTimeout)
	assert.Zero(t, o.hedgeDelay)
	assert.Empty(t, o.idempotent)
	assert.False(t, o.waitForReady)

	require.NoError(t, WithHealthCheck("svc", 0, 0)(&o))
	assert.Equal(t, time.Duration(0), o.healthEvery)
	assert.Equal(t, time.Second, o.healthTimeout, "with interval 0, a timeout of 0 keeps the default")
	require.NoError(t, WithHealthCheck("svc", 0, 3*time.Second)(&o))
	assert.Equal(t, 3*time.Second, o.healthTimeout)
}

// TestRetryBudgetCapacity checks WithRetryBudget: the bucket holds "at
// most ten seconds' worth, and at least 100" tokens, and starts full.
func TestRetryBudgetCapacity(t *testing.T) {
	for floor, want := range map[float64]float64{0: 100, 10: 100, 50: 500, 1000: 10000} {
		b := newBudget(0.1, floor)
		assert.Equal(t, want, b.cap, "floor %v", floor)
		n := 0
		for b.withdraw() && n < 20000 {
			n++
		}
		assert.GreaterOrEqual(t, n, int(want), "starts full (floor %v)", floor)
		assert.LessOrEqual(t, n, int(want)+int(floor)+1, "no more than it holds plus a second's refill (floor %v)", floor)
	}
}
