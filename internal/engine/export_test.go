package engine

import "time"

// Workers reports how many handler goroutines c has, running or idle (for
// tests).
func (c *Channel) Workers() int {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.nWorkers
}

// KeepIdleWorkers makes c's reaper retire idle handler goroutines only
// after d instead of workerIdle; call it before c's first call (for
// tests whose steps may take longer than workerIdle under load).
func (c *Channel) KeepIdleWorkers(d time.Duration) { c.workerIdle = d }
