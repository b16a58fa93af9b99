package cluster

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The default schedule: 1 s, ×1.6, ±20 %, capped at 30 s.
func TestBackoffSchedule(t *testing.T) {
	b := DefaultBackoff()
	require.NoError(t, b.Validate())
	want := 1.0
	for n := 1; n <= 12; n++ {
		center := time.Duration(min(want, 30) * float64(time.Second))
		for range 200 {
			d := b.Delay(n)
			assert.GreaterOrEqual(t, d, time.Duration(float64(center)*0.8)-time.Microsecond, "n=%d", n)
			assert.LessOrEqual(t, d, time.Duration(float64(center)*1.2)+time.Microsecond, "n=%d", n)
		}
		want *= 1.6
	}
	// A client that never reaches its server dials at most this often in
	// 60 s: the reconnect-storm bound.
	var at time.Duration
	dials := 0
	for n := 1; at < 60*time.Second; n++ {
		at += time.Duration(float64(b.Delay(n)) / 1.2 * 0.8) // the fastest jitter every time
		dials++
	}
	assert.LessOrEqual(t, dials, 10)
}

func TestBudgetBoundsRetries(t *testing.T) {
	b := newBudget(0.1, 0)
	// The initial reserve, then 10 % of calls.
	spent := 0
	for range 10_000 {
		b.deposit()
		if b.withdraw() {
			spent++
		}
	}
	assert.InDelta(t, 100+1000, spent, 2)
	// Without deposits, the floor refills it over time.
	f := newBudget(0, 1000)
	for f.withdraw() {
	}
	f.mu.Lock()
	f.last = f.last.Add(-10 * time.Millisecond)
	f.mu.Unlock()
	got := 0
	for f.withdraw() {
		got++
	}
	assert.InDelta(t, 10, got, 2)
}

func TestBreakerTransitions(t *testing.T) {
	changes := make(chan struct{}, 16)
	b := &breaker{threshold: 2, coolDown: 20 * time.Millisecond, onChange: func() { changes <- struct{}{} }}
	defer b.stop()
	require.True(t, b.acquire())
	b.record(failure)
	require.True(t, b.allows())
	b.record(success) // resets the count
	b.record(failure)
	require.True(t, b.allows())
	b.record(failure)
	require.False(t, b.allows())
	require.False(t, b.acquire())
	<-changes // opened
	<-changes // half-open after the cool-down
	require.Equal(t, "half-open", b.String())
	require.True(t, b.acquire())
	require.False(t, b.acquire(), "one probe at a time")
	b.record(failure)
	<-changes
	require.Equal(t, "open", b.String())
	<-changes
	require.True(t, b.acquire())
	b.record(success)
	<-changes
	require.Equal(t, "closed", b.String())
	assert.True(t, b.acquire())
	assert.True(t, b.acquire())
}

func TestClassify(t *testing.T) {
	assert.Equal(t, success, classify(t.Context(), nil))
}
