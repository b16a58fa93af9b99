package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit23ListenAndDialRefused: the doc runs one process that
// listens and one that dials. Given both -listen and -dial, the example
// listened and ignored -dial without a word (a process that then waits
// for a peer that never comes); it now refuses the pair, with the usage
// and exit status 2 as for neither.
func TestVaudit23ListenAndDialRefused(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "peer")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-listen", "127.0.0.1:0", "-dial", "127.0.0.1:1").CombinedOutput()
	require.NoError(t, ctx.Err(), "it exits at once: %s", out)
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "%v: %s", err, out)
	assert.Equal(t, 2, exit.ExitCode())
	assert.Contains(t, string(out), "not both")
}
