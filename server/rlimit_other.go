//go:build !unix

package server

// openFileLimit returns 0: this system has no limit on open files that the
// connection bound must stay under.
func openFileLimit() int { return 0 }
