package stream_test

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/stream"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// account is a wire.Account with a limit that records its peak.
type account struct {
	mu          sync.Mutex
	used, limit int
	peak        int
}

func (a *account) Charge(n int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.used+n > a.limit {
		return false
	}
	a.used += n
	a.peak = max(a.peak, a.used)
	return true
}

func (a *account) Release(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.used -= n
}

func (a *account) inUse() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.used
}

// TestBoundWritesPeerNeverReads: a handler sending to a peer that never
// reads is charged for what it queued, refused past the budget, and cut
// off by the write timeout; all of the charge is released at Close.
func TestBoundWritesPeerNeverReads(t *testing.T) {
	a, b := net.Pipe() // b is never read
	defer b.Close()
	acct := &account{limit: 256 << 10}
	sc := stream.New(a, wire.DefaultLimits)
	sc.BoundWrites(acct, 200*time.Millisecond)
	msg := make([]byte, 4<<10)
	start := time.Now()
	var err error
	sent := 0
	for range 10_000 {
		if err = sc.Send(msg); err != nil {
			break
		}
		sent++
	}
	require.Error(t, err, "sends to a peer that never reads must fail")
	t.Logf("%d messages of 4 KiB sent, then %v after %v; budget peak %d", sent, err, time.Since(start), acct.peak)
	assert.LessOrEqual(t, acct.peak, acct.limit)
	assert.Positive(t, acct.peak, "queued messages are charged")
	require.NoError(t, sc.Close())
	assert.Eventually(t, func() bool { return acct.inUse() == 0 }, 5*time.Second, time.Millisecond,
		"the budget is released once the writer is done")
}

// TestBoundWritesBudget: past the budget a message is not queued and the
// sender gets resource_exhausted, while the peer (reading nothing yet)
// holds the writer.
func TestBoundWritesBudget(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	acct := &account{limit: 40 << 10} // under the 64 KiB a sender may queue before it waits
	sc := stream.New(a, wire.DefaultLimits)
	sc.BoundWrites(acct, 0) // no timeout: only the budget stops it
	msg := make([]byte, 8<<10)
	var err error
	for range 1000 {
		if err = sc.Send(msg); err != nil {
			break
		}
	}
	require.Error(t, err)
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%v", err)
	assert.LessOrEqual(t, acct.inUse(), acct.limit)
	b.Close() // the write in flight fails
	_ = sc.Close()
	assert.Eventually(t, func() bool { return acct.inUse() == 0 }, 5*time.Second, time.Millisecond)
}
