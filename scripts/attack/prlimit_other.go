//go:build !linux

package main

import "errors"

// capAddressSpace needs prlimit(2), which only Linux has.
func capAddressSpace(int, int64) error {
	return errors.New("capping another process's address space needs Linux (prlimit)")
}
