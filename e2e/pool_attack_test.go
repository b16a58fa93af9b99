package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/testsvc"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests in this file attack the server-wide memory pool
// (server.WithMemoryBudget) with many connections: members shed only when
// the pool is over its limit and only as many as needed, a refusable
// charge refused rather than its connection ended, and a shed
// connection's reader stopped. Their helpers (crowdServer, the innocent
// client, leftClean) are in hostile_session_test.go.

// TestPoolCrowd: one attacker with 24 connections at a time keeps
// the server-wide budget (9 MiB) full for two seconds with partial
// messages on many streams, reconnecting as the server sheds them. An
// innocent connection that stays within its share (small calls, 32 KiB
// echoes, a bidi stream of 16 KiB messages) is neither shed nor frozen,
// and seldom refused (an echo may be, resource_exhausted and not
// executed, when the connection holds the most while the budget is full,
// as server.WithMemoryBudget says: 1-2 of about 1,000 in 2 of 24 runs,
// a tenth at most allowed); once the attacker has gone, the innocent's
// connection holds what it held before the attack, and then nothing is
// left at all. The budget's peak in use is logged, not asserted:
// connections being shed keep what they hold until they have ended,
// outside the budget (a median 61 MiB at the peak under the 9 MiB budget
// while they read on after being shed, 34 MiB since they stop; 16:45 UTC).
func TestPoolCrowd(t *testing.T) {
	s := crowdServer(t, server.WithMemoryBudget(9<<20))
	addr := listen(t, s)
	g0, _ := settle()
	c, err := client.Dial(t.Context(), addr)
	require.NoError(t, err)
	var idle atomic.Int64
	require.Eventually(t, func() bool { idle.Store(memoryInUse(s)); return len(s.Conns()) == 1 }, 5*time.Second, time.Millisecond)
	stop := make(chan struct{})
	good := startInnocent(t, addr, stop)
	var wg sync.WaitGroup
	var innocentErrs, echoes, refusedEchoes, slowEchoes atomic.Int64
	var innocentLast atomic.Value
	wg.Add(2)
	go func() { // 32 KiB echoes
		defer wg.Done()
		arg := make([]byte, 32<<10)
		for range 10_000 {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			var back []byte
			err := c.Call(ctx, "Echo.Echo", arg, &back)
			cancel()
			echoes.Add(1)
			switch {
			case ferry.CodeOf(err) == ferry.CodeResourceExhausted && ferry.NotExecuted(err):
				// The connection was the largest while the budget was
				// full: its call is refused (server.WithMemoryBudget).
				refusedEchoes.Add(1)
			case ferry.CodeOf(err) == ferry.CodeDeadlineExceeded:
				slowEchoes.Add(1) // bounded below, as the innocent's calls are (slowOK)
				innocentLast.Store(fmt.Sprint("echo: ", err))
			case err != nil || len(back) != len(arg):
				innocentErrs.Add(1)
				innocentLast.Store(fmt.Sprint("echo: ", err))
			}
		}
	}()
	go func() { // a bidi stream of 16 KiB messages
		defer wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		st, err := client.OpenBidi[[]byte, []byte](ctx, c, "Flood.Chat")
		if err != nil {
			innocentErrs.Add(1)
			innocentLast.Store(fmt.Sprint("open: ", err))
			return
		}
		defer st.Close()
		m := make([]byte, 16<<10)
		for range 100_000 {
			select {
			case <-stop:
				return
			default:
			}
			if err := st.Send(&m); err != nil {
				innocentErrs.Add(1)
				innocentLast.Store(fmt.Sprint("send: ", err))
				return
			}
			if back, err := st.Recv(); err != nil || len(*back) != len(m) {
				innocentErrs.Add(1)
				innocentLast.Store(fmt.Sprint("recv: ", err))
				return
			}
		}
	}()
	peak, stopPeak := watchPeak(s)
	var conns atomic.Int64
	end := time.Now().Add(2 * time.Second)
	var attackers sync.WaitGroup
	for range 24 {
		attackers.Add(1)
		go func() {
			defer attackers.Done()
			for time.Now().Before(end) { // a connection a round, until shed
				conn, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				conns.Add(1)
				openStreams(conn, 3, 40, partialEcho(4<<20-64, 128<<10))
				_ = conn.SetReadDeadline(end)
				_, _ = io.Copy(io.Discard, conn) // until shed, or the end
				conn.Close()
			}
		}()
	}
	attackers.Wait()
	stopPeak()
	t.Logf("peak budget in use: %.1f MiB", float64(peak())/(1<<20))
	good.atLeast(t, 10)
	close(stop)
	wg.Wait()
	good.finish(t)
	t.Logf("attacker connections: %d; innocent's echoes %d, refused %d, past their deadline %d; echo and stream errors: %d (last: %v)",
		conns.Load(), echoes.Load(), refusedEchoes.Load(), slowEchoes.Load(), innocentErrs.Load(), innocentLast.Load())
	assert.Zero(t, innocentErrs.Load(), "the innocent connection's echoes and stream")
	assert.LessOrEqual(t, int(slowEchoes.Load()), slowOK(echoes.Load()), "the innocent's echoes past their deadline")
	assert.Less(t, 10*refusedEchoes.Load(), echoes.Load(), "echoes refused: at most a tenth")
	var left atomic.Int64
	assert.Eventually(t, func() bool { left.Store(memoryInUse(s)); return len(s.Conns()) == 1 && left.Load() <= idle.Load() },
		10*time.Second, 5*time.Millisecond, "the innocent's connection holds what it held before (%d)", idle.Load())
	t.Logf("innocent's connection: %d bytes before the attack, %d after", idle.Load(), left.Load())
	c.Close()
	leftClean(t, s, g0)
}

// TestPoolBudgetRace: sixteen connections' budgets in one pool charge,
// force and release concurrently, each in two goroutines, while others
// read Used; the pool sheds half of them and refuses the others' charges
// (they have no OnShed, and a member that is never shed holds half the
// pool). Every refused charge leaves nothing
// charged, no budget reads negative or, without a force, past its
// limit, nothing deadlocks, and once each owner has given back what it
// holds and closed its budget, the pool holds nothing.
func TestPoolBudgetRace(t *testing.T) {
	pool := transport.NewPool(1 << 20)
	const members, ops = 16, 3000
	var wg sync.WaitGroup
	var bad, poolRefused atomic.Int64
	var badWhat atomic.Value
	stopRead := make(chan struct{})
	// A member that is never shed (no OnShed) holds half the pool: the
	// pool refuses charges once it is full, not only sheds.
	blocker := transport.NewBudget(0, pool)
	require.True(t, blocker.Force(512<<10))
	budgets := make([]*transport.Budget, members)
	for i := range budgets {
		budgets[i] = transport.NewBudget(512<<10, pool)
	}
	var readers sync.WaitGroup
	readers.Add(1)
	go func() { // Used, as ConnInfo reads it
		defer readers.Done()
		for range 1_000_000 {
			select {
			case <-stopRead:
				return
			default:
			}
			for _, b := range budgets {
				if u := b.Used(); u < 0 {
					bad.Add(1)
					badWhat.Store(fmt.Sprint("Used ", u))
				}
			}
		}
	}()
	for i, b := range budgets {
		shed := make(chan struct{})
		if i%2 == 0 { // the others are never shed: the pool refuses them
			b.OnShed(func() { close(shed) })
		}
		var mu sync.Mutex
		var held []int
		forced := atomic.Bool{}
		var owners sync.WaitGroup
		for w := range 2 {
			owners.Add(1)
			go func() {
				defer owners.Done()
				for k := range ops {
					select {
					case <-shed:
						return
					default:
					}
					n := 1 + (i*7919+w*104729+k*31)%(80<<10)
					switch k % 4 {
					case 0, 1:
						if b.Charge(n) {
							mu.Lock()
							held = append(held, n)
							mu.Unlock()
						} else if u := b.Used(); !forced.Load() && u > b.Limit() {
							bad.Add(1)
							badWhat.Store(fmt.Sprint("refused charge left ", u, " > limit"))
						} else if u+int64(n) <= b.Limit() {
							poolRefused.Add(1) // the budget had room: the pool refused it
						}
					case 2:
						forced.Store(true)
						b.Force(n % (16 << 10))
						mu.Lock()
						held = append(held, n%(16<<10))
						mu.Unlock()
					case 3:
						mu.Lock()
						var r int
						if len(held) > 0 {
							r, held = held[len(held)-1], held[:len(held)-1]
						}
						mu.Unlock()
						b.Release(r)
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			owners.Wait()
			for _, n := range held {
				b.Release(n)
			}
			if u := b.Used(); u != 0 {
				bad.Add(1)
				badWhat.Store(fmt.Sprint("member ", i, " holds ", u, " after releasing all"))
			}
			b.Close()
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the budgets deadlocked")
	}
	close(stopRead)
	readers.Wait()
	blocker.Release(512 << 10)
	blocker.Close()
	t.Logf("sheds %d; charges the pool refused about %d; pool in use at the end %d", pool.Sheds(), poolRefused.Load(), pool.Used())
	assert.Positive(t, poolRefused.Load(), "charges the pool refused")
	assert.Zero(t, bad.Load(), "%v", badWhat.Load())
	assert.Zero(t, pool.Used(), "the pool once every member closed")
}

// TestPoolLargestChargerIsRefusedNotShed: 800 connections each hold
// 13 KiB (3 KiB of a message, its stream and its reader), under the 16 KiB below which
// the pool sheds no one, and together more than the server's 9 MiB. A
// call from an innocent connection would pass the budget and its
// connection is then the largest: the call is refused with
// resource_exhausted, not executed (server.WithMemoryBudget), and the
// connection goes on, answering calls once the crowd has gone. It was
// shed instead, and the call failed as unavailable with its outcome
// unknown: the pool chose whom to shed by what members held with the
// charges it was still deciding on, so the innocent's call made it the
// largest while the crowd's bytes made the pool shed; and a member
// charging while the largest was shed for its own refused charge.
func TestPoolLargestChargerIsRefusedNotShed(t *testing.T) {
	s := crowdServer(t, server.WithMemoryBudget(9<<20))
	addr := listen(t, s)
	g0, _ := settle()
	c, err := client.Dial(t.Context(), addr)
	require.NoError(t, err)
	defer c.Close()
	// Idle, its reader parked, it holds little: bytes arriving for the
	// crowd do not make the pool shed it, since the crowd holds more.
	require.Eventually(t, func() bool { return memoryInUse(s) <= 4<<10 }, 10*time.Second, time.Millisecond)
	var crowd []net.Conn
	opening := append(yamuxFrame(1, 1, 1, 0), dataFrame(1, 0, partialEcho(64<<10, 3<<10))...)
	for range 800 {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		crowd = append(crowd, conn)
		_, err = conn.Write(opening)
		require.NoError(t, err)
	}
	if !assert.Eventually(t, func() bool { return memoryInUse(s) > 9<<20 }, 10*time.Second, time.Millisecond, "the crowd fills the budget") {
		t.Fatalf("the crowd holds %d bytes in %d connections", memoryInUse(s), len(s.Conns()))
	}
	t.Logf("the crowd holds %d bytes in %d connections", memoryInUse(s), len(s.Conns()))
	for i := range 3 {
		var sum int64
		// Refused or served, never left unanswered: the deadline only
		// bounds the test (a loaded machine took over 2 s to set up the
		// crowd's 800 sessions while this call waited).
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		err := c.Call(ctx, "Arith.Add", testsvc.Args{A: 1, B: 2}, &sum)
		cancel()
		t.Logf("call %d: %v (in use %d)", i, err, memoryInUse(s))
		if err == nil {
			continue // the budget had room after all
		}
		require.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "call %d: %v", i, err)
		require.True(t, ferry.NotExecuted(err), "call %d: %v", i, err)
	}
	for _, conn := range crowd {
		conn.Close()
	}
	require.Eventually(t, func() bool { return len(s.Conns()) == 1 }, 10*time.Second, time.Millisecond)
	var sum int64
	require.NoError(t, c.Call(t.Context(), "Arith.Add", testsvc.Args{A: 3, B: 4}, &sum), "the innocent's connection, once the crowd has gone")
	assert.Equal(t, int64(7), sum)
	c.Close()
	leftClean(t, s, g0)
}

// TestPoolConcurrentForcesShedOnlyWhatIsNeeded: twelve goroutines force
// bytes at once into four large members of a pool, passing its limit by
// about two of them; a fifth member, smaller, forces nothing. Each forcer
// sees the pool over its limit; the first sheds enough, and the others
// must then shed no one: they shed the next largest each, the innocent
// member among them (TestPoolCrowd's innocent connection was shed
// that way now and then).
func TestPoolConcurrentForcesShedOnlyWhatIsNeeded(t *testing.T) {
	innocentShed, most := 0, int64(0)
	for range 2000 {
		pool := transport.NewPool(1 << 20)
		var innocentWasShed atomic.Bool
		innocent := transport.NewBudget(0, pool)
		innocent.OnShed(func() { innocentWasShed.Store(true) })
		require.True(t, innocent.Force(150<<10))
		bigs := make([]*transport.Budget, 4)
		for i := range bigs {
			bigs[i] = transport.NewBudget(0, pool)
			bigs[i].OnShed(func() {})
			require.True(t, bigs[i].Force(200<<10))
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for g := range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				bigs[g%4].Force(32 << 10)
			}()
		}
		close(start)
		wg.Wait()
		if innocentWasShed.Load() {
			innocentShed++
		}
		most = max(most, pool.Sheds())
	}
	t.Logf("most members shed in a round: %d (2 needed); the innocent shed in %d rounds of 2,000", most, innocentShed)
	assert.Zero(t, innocentShed, "rounds in which the member that forced nothing was shed")
	assert.LessOrEqual(t, most, int64(3), "members shed in a round: two are enough, whatever the order")
}

// TestPoolShedMemberReadingShedsNoOne: a member being shed keeps
// receiving what its peer had in flight, and reading it (2 MiB forced,
// then released, over and over) while another member's small charges
// come and go. Those bytes never count as held by the others: the member
// holding 100 KiB of a 1 MiB pool is not shed. Release took them from
// the members being shed before the pool's sum, and a sum read in
// between made the pool look 2 MiB over (x was shed within microseconds).
func TestPoolShedMemberReadingShedsNoOne(t *testing.T) {
	pool := transport.NewPool(1 << 20)
	x := transport.NewBudget(0, pool)
	var xShed atomic.Bool
	x.OnShed(func() { xShed.Store(true) })
	require.True(t, x.Force(100<<10))
	d := transport.NewBudget(0, pool)
	dShed := make(chan struct{})
	d.OnShed(func() { close(dShed) })
	d.Force(1000 << 10)
	s := transport.NewBudget(0, pool)
	s.OnShed(func() {})
	s.Force(64 << 10) // past the pool: d, the largest, is shed
	<-dShed
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 200_000 {
			select {
			case <-stop:
				return
			default:
			}
			d.Force(2 << 20)
			d.Release(2 << 20)
		}
	}()
	small := transport.NewBudget(0, pool)
	small.OnShed(func() {})
	for range 200_000 {
		if xShed.Load() {
			break
		}
		small.Force(1)
		small.Release(1)
	}
	close(stop)
	wg.Wait()
	assert.False(t, xShed.Load(), "the member within its share was shed (%d sheds)", pool.Sheds())
	assert.Equal(t, int64(1), pool.Sheds())
}

// TestAttackPoolCrowd: the example server (48 MiB server budget) under
// 48 attacking connections at a time that fill the budget with partial
// messages on many streams, reconnecting as they are shed, for 4 s. A
// persistent client that stays within its share (a call every 20 ms and
// a bidi Echo.Chat of 16 KiB messages) is neither refused nor shed, and
// fresh clients are served throughout (the siege's probes).
//
// Known to fail now and then: the server's RSS peaked at 276-277 MiB
// with 48 attackers (249 with 24, 220 with 8; 16:41 UTC, 2026-12-06),
// past the 256 MiB bound, while connections being shed read on outside
// the budget; since they stop at their next frame, 246-257 MiB (16:47
// UTC). What is left is what they hold until their goroutines exit, and
// the collector falling behind: the server used both cores (5.3 s of CPU
// in 4.8 s). It runs with FERRY_ATTACK_KNOWN=1.
//
// Since then (2026-12-07, 13:20 UTC, an AMD EPYC 2-core VM, twelve runs,
// seven of them of a build that could profile or yield the guard):
// the RSS peak is 196-197 MiB, well within the bound, but fresh calls
// still miss the 2 s bound in most runs (slowest probe 2.07-5.03 s, 0-2
// failed; the innocent client's slowest call 1.2-2.7 s, at most one past
// its deadline), while the server used 2.5-4.3 s of CPU in about 6 s and
// the attacking test process, built with the race detector, the rest of
// the two cores. In the same kind of flood from scripts/attack
// (plainpartial), a fresh client's TCP connection was accepted by the
// kernel at once but its hello waited 0.5-3 s: it queued behind
// thousands of attacking connections that the server's accept loop took
// one by one, between collections of the garbage their partial messages
// left (a goroutine dump showed the accept loop in a GC assist).
func TestAttackPoolCrowd(t *testing.T) {
	needAttacks(t)
	if os.Getenv("FERRY_ATTACK_KNOWN") != "1" {
		t.Skip("known to fail: fresh calls take over 2 s while the crowd is shed and reconnects (memory is within its bound); FERRY_ATTACK_KNOWN=1 runs it")
	}
	sg := besiege(t)
	addr := sg.p.addr
	stop := make(chan struct{})
	good := startInnocent(t, addr, stop)
	c, err := client.Dial(t.Context(), addr)
	require.NoError(t, err)
	defer c.Close()
	var chatErr atomic.Value
	var chats atomic.Int64
	chatDone := make(chan struct{})
	go func() {
		defer close(chatDone)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		st, err := client.OpenBidi[[]byte, []byte](ctx, c, "Echo.Chat")
		if err != nil {
			chatErr.Store(err)
			return
		}
		defer st.Close()
		m := make([]byte, 16<<10)
		for range 100_000 {
			select {
			case <-stop:
				return
			default:
			}
			if err := st.Send(&m); err != nil {
				chatErr.Store(err)
				return
			}
			if _, err := st.Recv(); err != nil {
				chatErr.Store(err)
				return
			}
			chats.Add(1)
		}
	}()
	var conns atomic.Int64
	end := time.Now().Add(4 * time.Second)
	var attackers sync.WaitGroup
	for range 48 {
		attackers.Add(1)
		go func() {
			defer attackers.Done()
			for time.Now().Before(end) {
				conn, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				conns.Add(1)
				openStreams(conn, 3, 60, partialEcho(4<<20-64, 200<<10))
				_ = conn.SetReadDeadline(end)
				_, _ = io.Copy(io.Discard, conn)
				conn.Close()
			}
		}()
	}
	attackers.Wait()
	close(stop)
	<-chatDone
	good.finish(t)
	t.Logf("attacker connections: %d; chat messages echoed: %d; chat error: %v", conns.Load(), chats.Load(), chatErr.Load())
	assert.Nil(t, chatErr.Load(), "the persistent client's chat")
	sg.finish()
}

// TestPoolShedMemberStopsReading: once the pool sheds a member, every
// byte forced on it reports the budget past its limits, so that its
// session's receive loop stops reading at the next frame instead of when
// the shedding goroutine gets to close the connection: meanwhile
// connections being shed read on, outside the pool's limit (in
// TestPoolCrowd the budget in use peaked at a median 61 MiB of 6
// runs under the 9 MiB budget, 34 MiB with this; 16:45 UTC).
func TestPoolShedMemberStopsReading(t *testing.T) {
	pool := transport.NewPool(1 << 20)
	d := transport.NewBudget(64<<20, pool)
	shed := make(chan struct{})
	d.OnShed(func() { close(shed) })
	require.True(t, d.Force(1000<<10))
	other := transport.NewBudget(64<<20, pool)
	other.OnShed(func() { t.Error("the smaller member was shed") })
	assert.True(t, other.Force(100<<10), "past the pool: the largest member is shed")
	<-shed
	assert.False(t, d.Force(1), "a byte arriving for the member being shed")
	assert.False(t, d.Charge(1), "a charge of the member being shed")
	assert.True(t, other.Force(1), "the other member")
	d.Close()
	other.Close()
	assert.Zero(t, pool.Used())
}
