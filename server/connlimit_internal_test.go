package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// BenchmarkConnLimitScan measures what choosing a connection to close
// costs at a connection bound, with n connections open, every one of them
// proven and quiet by its hint (the most a scan examines): the three
// passes startConn makes (new connections past the grace, quiet ones, any
// new one), the quiet pass confirming a candidate that turns out busy
// quietChecks times.
func BenchmarkConnLimitScan(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s := New()
			ips := make([]map[*netConn]struct{}, 4)
			for i := range ips {
				ips[i] = map[*netConn]struct{}{}
				s.perIP[fmt.Sprintf("127.0.0.%d", 2+i)] = ips[i]
			}
			now := time.Now()
			for i := range n {
				c := &netConn{s: s, ip: fmt.Sprintf("127.0.0.%d", 2+i%4), peers: ips[i%4], since: now, engines: nil}
				c.peers[c] = struct{}{}
				c.proven.Store(true)
				c.quietHint.Store(now.UnixNano() + int64(i))
				s.conns[c] = struct{}{}
			}
			b.Run("unproven", func(b *testing.B) {
				for range b.N {
					s.oldestUnproven("127.0.0.9", false, time.Time{})
				}
			})
			b.Run("all", func(b *testing.B) {
				for range b.N {
					if s.oldestUnproven("127.0.0.9", false, now.Add(-unprovenGrace)) != nil {
						b.Fatal("no connection is unproven")
					}
					if s.quietest("127.0.0.9", false) != nil {
						b.Fatal("no connection is quiet for real (none has a call stream)")
					}
					if s.oldestUnproven("127.0.0.9", false, time.Time{}) != nil {
						b.Fatal("no connection is unproven")
					}
					b.StopTimer()
					for c := range s.conns {
						c.busyUntil.Store(0)
					}
					b.StartTimer()
				}
			})
		})
	}
}

// TestConnLimitScanIsBounded checks WithConnLimits' "Past 1,024
// connections, the choice is made among 1,024 taken from a random place":
// with one connection that never sent a message among proven ones, a pass
// finds it every time when 1,000 are open, and only sometimes (about a
// third of the time) when 3,000 are, from a different place each time.
func TestConnLimitScanIsBounded(t *testing.T) {
	for _, tc := range []struct {
		n      int
		always bool
	}{{n: 1000, always: true}, {n: 3000}} {
		s := New()
		ip := "127.0.0.2"
		s.perIP[ip] = map[*netConn]struct{}{}
		now := time.Now()
		var target *netConn
		for i := range tc.n {
			c := &netConn{s: s, ip: ip, peers: s.perIP[ip], since: now.Add(time.Duration(i) * time.Millisecond)}
			c.peers[c] = struct{}{}
			if i == tc.n/2 {
				target = c
			} else {
				c.proven.Store(true)
			}
			s.conns[c] = struct{}{}
		}
		found := 0
		const passes = 300
		for range passes {
			switch s.oldestUnproven(ip, false, time.Time{}) {
			case target:
				found++
			case nil:
			default:
				t.Fatal("a proven connection was chosen")
			}
		}
		if tc.always {
			assert.Equal(t, passes, found, "%d connections: each pass sees them all", tc.n)
		} else {
			assert.Greater(t, found, 0, "%d connections: some passes start near it", tc.n)
			assert.Less(t, found, passes, "%d connections: a pass sees 1,024 of them", tc.n)
		}
	}
}
