package server

import (
	"fmt"
	"testing"
	"time"
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
