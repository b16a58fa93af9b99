package transport_test

import (
	"testing"
	"time"

	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBudget: charges within the limit hold, one past it is refused and
// leaves nothing charged; Force always counts and reports the overrun.
func TestBudget(t *testing.T) {
	b := transport.NewBudget(100, nil)
	assert.Equal(t, int64(100), b.Limit())
	require.True(t, b.Charge(60))
	require.False(t, b.Charge(41))
	assert.Equal(t, int64(60), b.Used())
	require.True(t, b.Force(40))
	require.False(t, b.Force(1))
	assert.Equal(t, int64(101), b.Used())
	b.Release(101)
	assert.Zero(t, b.Used())
	assert.True(t, b.Charge(0), "nothing to charge")
	b.Close()
	b.Release(10) // after Close: ignored
	assert.Zero(t, b.Used())
}

// TestBudgetNil: a nil budget accepts everything.
func TestBudgetNil(t *testing.T) {
	var b *transport.Budget
	assert.True(t, b.Charge(1<<40))
	assert.True(t, b.Force(1<<40))
	b.Release(1)
	b.Close()
	assert.Zero(t, b.Used())
	assert.Zero(t, b.Limit())
}

// TestBudgetUnbounded: a limit of zero or less bounds nothing.
func TestBudgetUnbounded(t *testing.T) {
	b := transport.NewBudget(0, nil)
	assert.True(t, b.Charge(1<<40))
	assert.Equal(t, int64(1<<40), b.Used())
}

// TestPoolSheds: a small charge that would pass the pool's limit ends the
// largest other member (its OnShed runs once) and is granted.
func TestPoolSheds(t *testing.T) {
	p := transport.NewPool(100 << 10)
	big := transport.NewBudget(0, p)
	small := transport.NewBudget(0, p)
	shed := make(chan struct{}, 2)
	big.OnShed(func() { shed <- struct{}{} })
	small.OnShed(func() { t.Error("the smaller member was shed") })
	require.True(t, big.Charge(90<<10))
	require.True(t, small.Charge(5<<10))
	require.True(t, small.Charge(10<<10), "the largest member makes room")
	select {
	case <-shed:
	case <-time.After(5 * time.Second):
		t.Fatal("the largest member was not shed")
	}
	assert.Equal(t, int64(1), p.Sheds())
	assert.Equal(t, int64(105<<10), p.Used())
	big.Close() // its connection ended: its bytes leave the pool
	assert.Equal(t, int64(15<<10), p.Used())
	small.Close()
	assert.Zero(t, p.Used())
}

// TestPoolRefusesLarge: a large charge (over 64 KiB) past the pool's limit
// is refused instead of shedding others; a charge by the largest member
// itself is refused, and does not end that member (its call is refused,
// not lost with the connection); bytes it is forced to hold do.
func TestPoolRefusesLarge(t *testing.T) {
	p := transport.NewPool(100 << 10)
	a := transport.NewBudget(0, p)
	b := transport.NewBudget(0, p)
	shed := make(chan struct{}, 1)
	a.OnShed(func() { shed <- struct{}{} })
	b.OnShed(func() { t.Error("b was shed") })
	require.True(t, a.Charge(60<<10))
	require.False(t, b.Charge(65<<10), "a large charge")
	assert.Equal(t, int64(60<<10), p.Used())
	require.True(t, b.Charge(30<<10))
	assert.Zero(t, p.Sheds())
	require.False(t, a.Charge(20<<10), "the largest member cannot displace others")
	assert.Equal(t, int64(90<<10), p.Used())
	assert.Zero(t, p.Sheds(), "a refused charge ends no one")
	assert.False(t, a.Force(20<<10), "bytes that arrived past the pool")
	<-shed
	assert.Equal(t, int64(1), p.Sheds())
	a.Close()
	b.Close()
}

// TestPoolShedMemberKeepsGrowing: a shed connection still receives what its
// peer had in flight (forced, up to its windows) until it has ended. Those
// bytes leave with it, so they must not make the pool shed, or refuse,
// a newcomer: that newcomer would be reset at its handshake.
func TestPoolShedMemberKeepsGrowing(t *testing.T) {
	p := transport.NewPool(1 << 20)
	attacker := transport.NewBudget(0, p)
	shed := make(chan struct{}, 1)
	attacker.OnShed(func() { shed <- struct{}{} })
	other := transport.NewBudget(0, p)
	other.OnShed(func() { t.Error("a small member was shed") })
	require.True(t, attacker.Force(900<<10))
	require.True(t, other.Charge(1<<10))
	assert.False(t, attacker.Force(200<<10), "past the pool: the largest member is shed")
	<-shed

	// In flight when it was shed: 4 MiB more, past the pool's limit.
	for range 16 {
		attacker.Force(256 << 10)
	}
	assert.False(t, attacker.Charge(1<<10), "a member being shed gets no new charge")
	newcomer := transport.NewBudget(0, p)
	newcomer.OnShed(func() { t.Error("the newcomer was shed") })
	assert.True(t, newcomer.Force(1<<10), "a new stream's overhead")
	assert.True(t, newcomer.Charge(4<<10), "a small call")
	assert.True(t, other.Charge(8<<10))
	assert.Equal(t, int64(1), p.Sheds())

	attacker.Close() // its connection ended
	assert.Equal(t, int64(14<<10), p.Used())
	newcomer.Close()
	other.Close()
	assert.Zero(t, p.Used())
}

// TestPoolSparesSmallMembers: when the pool is over its limit and no member
// holds enough to be worth ending (shedFloor, 16 KiB), a small charge of a
// small member is let in, and nobody is shed; a member past the floor is
// still refused.
func TestPoolSparesSmallMembers(t *testing.T) {
	p := transport.NewPool(1 << 20)
	held := transport.NewBudget(0, p)
	shed := make(chan struct{}, 1)
	held.OnShed(func() { shed <- struct{}{} })
	require.True(t, held.Force(1<<20))
	require.False(t, held.Force(64<<10), "past the pool: the largest member is shed")
	<-shed
	// Its bytes no longer count; a member small enough is never shed.
	a := transport.NewBudget(0, p)
	a.OnShed(func() { t.Error("a small member was shed") })
	assert.True(t, a.Force(1<<10), "a new stream of a new connection")
	assert.True(t, a.Charge(4<<10))
	b := transport.NewBudget(0, p)
	b.OnShed(func() { t.Error("a small member was shed") })
	assert.True(t, b.Charge(4<<10))
	assert.Equal(t, int64(1), p.Sheds())
	held.Close()
	a.Close()
	b.Close()
	assert.Zero(t, p.Used())
}

// TestPoolFloor: members under 16 KiB are never shed, even when together
// they pass the pool's limit: ending one frees next to nothing.
func TestPoolFloor(t *testing.T) {
	p := transport.NewPool(512 << 10)
	members := make([]*transport.Budget, 64)
	for i := range members {
		members[i] = transport.NewBudget(0, p)
		members[i].OnShed(func() { t.Error("a member under the floor was shed") })
		assert.True(t, members[i].Force(12<<10), "member %d", i)
	}
	assert.Zero(t, p.Sheds())
	assert.Equal(t, int64(64*12<<10), p.Used())
	// A member that would grow past the floor while the pool is over is
	// the largest: its charge is refused, and it is not shed for that;
	// bytes that arrive and take it past the floor shed it.
	grower := transport.NewBudget(0, p)
	shed := make(chan struct{}, 1)
	grower.OnShed(func() { shed <- struct{}{} })
	assert.True(t, grower.Force(12<<10))
	assert.False(t, grower.Charge(8<<10))
	assert.Zero(t, p.Sheds())
	assert.False(t, grower.Force(8<<10))
	<-shed
	grower.Close()
	for _, m := range members {
		m.Close()
	}
	assert.Zero(t, p.Used())
}
