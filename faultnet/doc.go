// Package faultnet injects network faults into net.Conn connections, for
// tests of code that must survive hostile networks: Ferry's own and its
// users'.
//
// A Faults value is a set of faults that can be changed at any time, from
// any goroutine, and applies at once to every connection it wraps:
//
//	f := faultnet.New()
//	conn = f.Conn(conn)           // or f.Listener(l), f.Dialer(nil)
//	f.SetLatency(faultnet.Both, 50*time.Millisecond)
//	f.Blackhole()                 // a partition: nothing gets through
//	f.Heal()                      // lift every fault
//
// Faults are seen from the wrapped side: Out is what it writes, In is what
// it reads. Wrapping one end of a connection is enough to disturb both
// directions.
//
//   - SetLatency delays every write (Out) or every read that returns data
//     (In).
//   - Stall blocks writes (Out) or holds back received bytes (In) until
//     Resume or Heal; nothing is lost.
//   - Drop silently discards bytes (a blackhole): writes report success,
//     received bytes vanish, and a close by the peer goes unnoticed until
//     the drop is lifted. Bytes dropped are lost for good, so a framed
//     protocol sees a corrupt stream after Heal, as after a middlebox that
//     lost state.
//   - SetBandwidth limits throughput with a token bucket.
//   - CloseAll and ResetAll end every connection abruptly; ResetAll makes a
//     TCP peer see a reset (ECONNRESET) rather than an end of stream.
//
// Blocked reads and writes honor deadlines (SetReadDeadline and friends)
// and Close, use no CPU while they wait, and faultnet starts no goroutines
// of its own.
package faultnet
