package main

import (
	"syscall"
	"unsafe"
)

// capAddressSpace sets RLIMIT_AS of another process (prlimit(2)).
func capAddressSpace(pid int, limit int64) error {
	lim := syscall.Rlimit{Cur: uint64(limit), Max: uint64(limit)}
	_, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), syscall.RLIMIT_AS,
		uintptr(unsafe.Pointer(&lim)), 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
