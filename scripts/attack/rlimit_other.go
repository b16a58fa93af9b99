//go:build !unix

package main

// openFileLimit is unknown without getrlimit(2).
func openFileLimit() (int, bool) { return 0, false }
