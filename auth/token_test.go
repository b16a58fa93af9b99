package auth_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/auth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	tokAlice = "alice-0123456789abcdef"
	tokBob   = "bob-0123456789abcdef01"
	tokNew   = "alice-new-fedcba987654"
)

func authToken(t *testing.T, tokens *auth.Tokens, token string) (any, error) {
	t.Helper()
	return tokens.Authenticate(t.Context(), ferry.AuthInfo{Token: token})
}

func TestTokens(t *testing.T) {
	tokens, err := auth.NewTokens(map[string]string{tokAlice: "alice", tokNew: "alice", tokBob: "bob"})
	require.NoError(t, err)
	for tok, want := range map[string]string{tokAlice: "alice", tokNew: "alice", tokBob: "bob"} {
		id, err := authToken(t, tokens, tok)
		require.NoError(t, err)
		assert.Equal(t, auth.Identity{Name: want, Source: "token"}, id)
	}
	for _, bad := range []string{"", "alice", tokAlice + "x", tokAlice[:len(tokAlice)-1], strings.ToUpper(tokAlice), tokAlice + "\x00", " " + tokAlice} {
		id, err := authToken(t, tokens, bad)
		assert.Nil(t, id)
		require.Error(t, err, "%q", bad)
		assert.Equal(t, ferry.CodeUnauthenticated, ferry.CodeOf(err))
		if bad != "" {
			assert.NotContains(t, err.Error(), bad)
		}
	}
}

func TestTokensRefuseWeakInput(t *testing.T) {
	_, err := auth.NewTokens(map[string]string{"short": "alice"})
	assert.ErrorContains(t, err, "at least 16")
	_, err = auth.NewTokens(map[string]string{tokAlice: ""})
	assert.ErrorContains(t, err, "empty identity")
	dir := t.TempDir()
	for name, body := range map[string]string{
		"oneword": "alice\n",
		"three":   "alice " + tokAlice + " extra\n",
		"dup":     "alice " + tokAlice + "\nbob " + tokAlice + "\n",
		"short":   "alice shorttoken\n",
	} {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		_, err := auth.LoadTokens(p, nil)
		assert.Error(t, err, name)
	}
	_, err = auth.LoadTokens(filepath.Join(dir, "missing"), nil)
	assert.Error(t, err)
}

// writeAtomic replaces path's content the way the docs ask: a temporary
// file renamed over it.
func writeAtomic(t *testing.T, path, body string) {
	t.Helper()
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(body), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

func TestTokenFileRevocation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	writeAtomic(t, path, "# who token\nalice "+tokAlice+"\n\nbob "+tokBob+"\n")
	var logs bytes.Buffer
	tokens, err := auth.LoadTokens(path, slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	_, err = authToken(t, tokens, tokAlice)
	require.NoError(t, err)

	// Rotation: the new token is added, then the old one revoked.
	writeAtomic(t, path, "alice "+tokAlice+"\nalice "+tokNew+"\nbob "+tokBob+"\n")
	_, err = authToken(t, tokens, tokNew)
	require.NoError(t, err, "the added token works at once")
	writeAtomic(t, path, "alice "+tokNew+"\nbob "+tokBob+"\n")
	_, err = authToken(t, tokens, tokAlice)
	assert.Equal(t, ferry.CodeUnauthenticated, ferry.CodeOf(err), "the revoked token is refused at once")
	_, err = authToken(t, tokens, tokNew)
	require.NoError(t, err)

	// An edit in place with the same size is seen too (os.WriteFile).
	require.NoError(t, os.WriteFile(path, []byte("alice "+tokNew+"\nbob "+strings.Repeat("x", len(tokBob))+"\n"), 0o600))
	require.NoError(t, tokens.Reload())
	_, err = authToken(t, tokens, tokBob)
	assert.Error(t, err)

	// A broken or missing file fails closed.
	writeAtomic(t, path, "alice\n")
	_, err = authToken(t, tokens, tokNew)
	assert.Equal(t, ferry.CodeUnauthenticated, ferry.CodeOf(err))
	require.NoError(t, os.Remove(path))
	_, err = authToken(t, tokens, tokNew)
	assert.Equal(t, ferry.CodeUnauthenticated, ferry.CodeOf(err))
	writeAtomic(t, path, "alice "+tokNew+"\n")
	_, err = authToken(t, tokens, tokNew)
	require.NoError(t, err, "fixed again")
	assert.Contains(t, logs.String(), "refusing every token")
	for _, tok := range []string{tokAlice, tokBob, tokNew} {
		assert.NotContains(t, logs.String(), tok, "no token in the logs")
	}
}

// BenchmarkTokenMismatch compares wrong tokens that share 0, 8, 16, 24 or
// 31 leading bytes with the only valid 32-byte token, and one of another
// length: with SHA-256 digests compared in constant time, ns/op is the
// same across them (run with -count to compare).
func BenchmarkTokenMismatch(b *testing.B) {
	valid := "0123456789abcdef0123456789abcdef"
	tokens, err := auth.NewTokens(map[string]string{valid: "svc"})
	require.NoError(b, err)
	wrong := func(prefix int) string {
		return valid[:prefix] + strings.Repeat("#", len(valid)-prefix)
	}
	cases := []struct {
		name, token string
	}{
		{"prefix=0", wrong(0)}, {"prefix=8", wrong(8)}, {"prefix=16", wrong(16)},
		{"prefix=24", wrong(24)}, {"prefix=31", wrong(31)}, {"prefix=32+longer", valid + "#"},
		{"valid", valid},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			info := ferry.AuthInfo{Token: c.token}
			for b.Loop() {
				_, _ = tokens.Authenticate(b.Context(), info)
			}
		})
	}
}

// BenchmarkTokenMismatchInterleaved measures the same wrong tokens as
// BenchmarkTokenMismatch in alternating rounds of 256 checks, so that a
// noisy machine weighs on every prefix alike, and reports each prefix's
// ns per check as a metric (ns/prefix=N).
func BenchmarkTokenMismatchInterleaved(b *testing.B) {
	valid := "0123456789abcdef0123456789abcdef"
	tokens, err := auth.NewTokens(map[string]string{valid: "svc"})
	require.NoError(b, err)
	prefixes := []int{0, 8, 16, 24, 31}
	infos := make([]ferry.AuthInfo, len(prefixes))
	for i, p := range prefixes {
		infos[i] = ferry.AuthInfo{Token: valid[:p] + strings.Repeat("#", len(valid)-p)}
	}
	spent := make([]time.Duration, len(prefixes))
	counts := make([]int, len(prefixes))
	const round = 256
	ctx := b.Context()
	for i := 0; b.Loop(); i++ {
		k := i % len(prefixes)
		t0 := time.Now()
		for range round {
			_, _ = tokens.Authenticate(ctx, infos[k])
		}
		spent[k] += time.Since(t0)
		counts[k] += round
	}
	for k, p := range prefixes {
		if counts[k] > 0 {
			b.ReportMetric(float64(spent[k].Nanoseconds())/float64(counts[k]), fmt.Sprintf("ns/prefix=%d", p))
		}
	}
}
