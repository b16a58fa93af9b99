//go:build !unix

package e2e_test

import "time"

// cpuTime is not measured without getrusage(2): it stays 0, so the tests
// bound only wall-clock time there.
func cpuTime() time.Duration { return 0 }
