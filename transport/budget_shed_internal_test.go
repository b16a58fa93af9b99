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
		together(func() {
			for range 200 {
				v.Release(64)
			}
		}, func() {
			for range 12 {
				c.Force(1 << 10)
			}
		})
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

// TestPendingChargeNeverPicksVictim: the pool picks whom to shed by what
// members hold without a charge it is still deciding on (pending). A
// charge reserved in the member's own sum before it was marked pending
// made the member look larger meanwhile: another member's forced bytes
// then shed it instead of the largest one.
func TestPendingChargeNeverPicksVictim(t *testing.T) {
	const rounds = 3000
	for i := range rounds {
		p := NewPool(80 << 10)
		big := NewBudget(0, p)
		big.OnShed(func() {})
		require.True(t, big.Force(40<<10))
		b := NewBudget(1<<20, p)
		b.OnShed(func() {})
		require.True(t, b.Force(30<<10))
		d := NewBudget(0, p) // never shed: no OnShed
		together(func() {
			b.Charge(20 << 10)
		}, func() {
			d.Force(15 << 10)
		})
		require.False(t, b.doomed.Load(), "round %d: shed the member holding 30 KiB, not the one holding 40 KiB", i)
		big.Close()
		b.Close()
		d.Close()
	}
}

// TestRefusedChargeNeverHidesLargest is the other side: the member that
// holds the most, charging more, must still be picked while the pool
// decides (or once it took the charge back), and not look smaller than
// it is so that a member holding less is shed in its place.
func TestRefusedChargeNeverHidesLargest(t *testing.T) {
	const rounds = 3000
	for i := range rounds {
		p := NewPool(80 << 10)
		other := NewBudget(0, p)
		other.OnShed(func() {})
		require.True(t, other.Force(20<<10))
		b := NewBudget(1<<20, p)
		b.OnShed(func() {})
		require.True(t, b.Force(50<<10))
		d := NewBudget(0, p) // never shed: no OnShed
		together(func() {
			b.Charge(30 << 10) // refused: b holds the most
		}, func() {
			d.Force(15 << 10) // sheds b, the largest
		})
		require.False(t, other.doomed.Load(), "round %d: shed the member holding 20 KiB, not the one holding 50 KiB", i)
		other.Close()
		b.Close()
		d.Close()
	}
}

// together runs f and g at once, released by one signal so that they
// overlap as much as they can, and returns when both have.
func together(f, g func()) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, fn := range []func(){f, g} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fn()
		}()
	}
	close(start)
	wg.Wait()
}
