package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// ferryBinary builds the ferry command into the test's temporary
// directory, for the tests that run or signal a real process; in -short
// mode they skip.
func ferryBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the ferry binary")
	}
	name := "ferry"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	bin := filepath.Join(t.TempDir(), name)
	out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}
