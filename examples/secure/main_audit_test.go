package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAuditTemporaryFiles checks the package doc's "Certificates and
// tokens are made at start, in a temporary directory" and -dir's
// "(default: a temporary one, removed at exit)": a run without -dir
// leaves nothing behind.
func TestAuditTemporaryFiles(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out, false, "127.0.0.1:0", ""), out.String())
	assert.Contains(t, out.String(), "alice calls Admin.Reset (her policy does not allow it): refused: permission_denied, not executed")
	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left, "what the run left in the temporary directory")
}
