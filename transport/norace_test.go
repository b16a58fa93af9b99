//go:build !race

package transport

// raceEnabled: the race detector makes sync.Pool drop a quarter of what
// is put back, so allocation counts that rely on a pool are looser.
const raceEnabled = false
