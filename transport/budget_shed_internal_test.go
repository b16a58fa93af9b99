package transport

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestShedRacingReleaseKeepsDoomedCount: a member shed while it releases
// bytes must still count, in the pool's doomed sum, at least what it
// holds. Release took the bytes from the member, then (seeing it doomed)
// from the doomed sum too: when the shedding marked it doomed in between
// and read what it held after the release, those bytes left the doomed
// sum twice, and the pool counted them as held by the others (it errs
// towards shedding, the other way from what trackDoomed promises).
func TestShedRacingReleaseKeepsDoomedCount(t *testing.T) {
	const rounds = 2000
	shed := 0
	for range rounds {
		p := NewPool(64 << 10)
		v := NewBudget(0, p)
		v.OnShed(func() {})
		require.True(t, v.Force(60<<10))
		c := NewBudget(0, p) // never shed: no OnShed
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			for range 200 {
				v.Release(64)
			}
		}()
		go func() {
			defer wg.Done()
			<-start
			for range 12 {
				c.Force(1 << 10)
			}
		}()
		close(start)
		wg.Wait()
		if v.doomed.Load() {
			shed++
			require.GreaterOrEqual(t, p.doomedUsed.Load(), v.used.Load(),
				"round %d: the pool's doomed sum lost bytes the shed member holds", shed)
		}
		v.Close()
		c.Close()
		require.Zero(t, p.Used())
		require.Zero(t, p.doomedUsed.Load())
	}
	t.Logf("%d of %d rounds shed the member", shed, rounds)
	require.Positive(t, shed)
}
