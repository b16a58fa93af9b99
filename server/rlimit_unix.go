//go:build unix

package server

import "syscall"

// openFileLimit returns the process's limit on open files (the soft
// RLIMIT_NOFILE, which the Go runtime raises to the hard one at start),
// or 0 when it is unknown or unlimited.
func openFileLimit() int {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil || lim.Cur == 0 || lim.Cur > 1<<30 {
		return 0
	}
	return int(lim.Cur)
}
