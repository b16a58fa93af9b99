//go:build !unix

package otel_test

import "time"

// cpuTime is not measured here: BenchmarkOverhead's cpu-ratio is NaN.
func cpuTime() time.Duration { return 0 }
