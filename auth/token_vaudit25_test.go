package auth_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ferryrpc/ferry/auth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit25TokenRules checks NewTokens' "Every token must be at least
// MinTokenLen bytes, and every name non-empty" and LoadTokens' file
// format: "NAME TOKEN", blank and # lines ignored, a NAME shared by
// several lines, and a file listing a token twice, a token shorter than
// MinTokenLen or a line that is not two fields does not parse.
func TestVaudit25TokenRules(t *testing.T) {
	long := "0123456789abcdef"
	require.Len(t, long, auth.MinTokenLen)
	_, err := auth.NewTokens(map[string]string{long: "alice", long + "x": "alice"})
	require.NoError(t, err, "several tokens may map to one name")
	_, err = auth.NewTokens(map[string]string{long[:15]: "alice"})
	require.Error(t, err, "a token shorter than MinTokenLen")
	_, err = auth.NewTokens(map[string]string{long: ""})
	require.Error(t, err, "an empty name")

	dir := t.TempDir()
	load := func(body string) error {
		p := filepath.Join(dir, "tokens")
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		_, err := auth.LoadTokens(p, nil)
		return err
	}
	assert.NoError(t, load("# comment\n\nalice "+long+"\nalice\t"+long+"y\n  bob   "+long+"z  \n"))
	assert.Error(t, load("alice "+long+"\nbob "+long+"\n"), "a token listed twice")
	assert.Error(t, load("alice "+long[:15]+"\n"), "a short token")
	assert.Error(t, load("alice "+long+" extra\n"), "white space inside")
	assert.Error(t, load(long+"\n"), "no name")
	_, err = auth.LoadTokens(filepath.Join(dir, "missing"), nil)
	assert.Error(t, err)
}
