//go:build unix

package main

import "syscall"

// openFileLimit returns this process's limit on open files (RLIMIT_NOFILE).
func openFileLimit() (int, bool) {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil {
		return 0, false
	}
	return int(min(lim.Cur, 1<<30)), true
}
