//go:build unix

package server

import (
	"runtime/debug"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDefaultConnLimitsUnderOpenFileLimit: the default total bound stays
// below the process's open-file limit, less an eighth of it (at least
// 64), so that connections past it are shed by the bound's rules rather
// than failing Accept (DefaultConnLimits' doc).
func TestDefaultConnLimitsUnderOpenFileLimit(t *testing.T) {
	var was syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &was))
	t.Cleanup(func() { require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &was)) })
	mem := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(mem) })
	debug.SetMemoryLimit(1 << 62) // no memory limit below 625 MiB: 10,000
	for _, c := range []struct {
		files        uint64
		total, perIP int
	}{
		{256, 192, 48},    // 256 - 64
		{1024, 896, 224},  // 1024 - 128
		{4096, 3584, 896}, // 4096 - 512
		{20000, 10000, 2500},
	} {
		if c.files > was.Max {
			continue // a soft limit cannot pass the hard one
		}
		lim := syscall.Rlimit{Cur: c.files, Max: was.Max}
		require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim))
		total, perIP := DefaultConnLimits()
		assert.Equal(t, c.total, total, "%d open files", c.files)
		assert.Equal(t, c.perIP, perIP, "%d open files", c.files)
	}
}
