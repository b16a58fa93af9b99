//go:build unix

package server

import (
	"runtime/debug"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview15DefaultConnLimitsTinyOpenFileLimit: under a tiny
// open-file limit the default bound keeps 64 files for the process's
// others (not 64 connections), yet allows at least one connection in
// total and per IP.
func TestVreview15DefaultConnLimitsTinyOpenFileLimit(t *testing.T) {
	var was syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &was))
	t.Cleanup(func() { require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &was)) })
	mem := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(mem) })
	debug.SetMemoryLimit(1 << 62)
	for _, c := range []struct {
		files        uint64
		total, perIP int
	}{
		{100, 36, 9}, // 100 - 64
		{65, 1, 1},
		{64, 1, 1},
		{200, 136, 34},
		{600, 525, 131},      // 600 - 75
		{11427, 9999, 2499},  // WithConnLimits: fewer below 11,428 files
		{11428, 10000, 2500}, // 11428 - 1428
	} {
		if c.files > was.Max {
			continue
		}
		require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: c.files, Max: was.Max}))
		total, perIP := DefaultConnLimits()
		assert.Equal(t, c.total, total, "%d open files", c.files)
		assert.Equal(t, c.perIP, perIP, "%d open files", c.files)
	}
}
