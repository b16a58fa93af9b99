package auth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryrpc/ferry"
)

// MinTokenLen is the shortest token Tokens accepts, in bytes: a shorter
// one can be guessed. 16 random bytes in hex or base64 are well above it.
const MinTokenLen = 16

// maxTokenFile bounds a token file's size.
const maxTokenFile = 1 << 20

// Tokens checks static bearer tokens (client.WithToken), each mapped to
// an identity; several may be valid at once, so that a token can be
// rotated by adding the new one before removing the old. Its Authenticate
// method is a ferry.AuthFunc:
//
//	tokens, err := auth.LoadTokens("/etc/ferry/tokens", logger)
//	s := server.New(server.WithAuth(tokens.Authenticate))
//
// A presented token is compared with every known token in constant time:
// both sides are hashed with SHA-256 and the digests compared with
// crypto/subtle, so the time taken reveals neither the length of a valid
// token nor how many of its leading bytes a guess got right. Tokens are
// kept only as digests. It is safe for concurrent use.
type Tokens struct {
	set atomic.Pointer[tokenSet]

	// From a file: checked for a change at every Authenticate.
	path   string
	logger *slog.Logger
	mu     sync.Mutex // one reload at a time
	stat   fileStamp  // of the last load attempt
}

type tokenSet struct {
	sums  [][sha256.Size]byte
	names []string
	err   error // the file could not be loaded: every token is refused
}

type fileStamp struct {
	mod  time.Time
	size int64
	fi   os.FileInfo
}

// same reports whether two stamps describe the same file content; two
// failed stats (the file is missing both times) are the same.
func (a fileStamp) same(b fileStamp) bool {
	if a.fi == nil || b.fi == nil {
		return a.fi == nil && b.fi == nil
	}
	return a.mod.Equal(b.mod) && a.size == b.size && os.SameFile(a.fi, b.fi)
}

// NewTokens returns a fixed set of tokens, mapping each token to the
// identity name it authenticates (several tokens may map to one name).
// Every token must be at least MinTokenLen bytes, and every name
// non-empty.
func NewTokens(tokens map[string]string) (*Tokens, error) {
	set, err := newTokenSet(tokens)
	if err != nil {
		return nil, err
	}
	t := &Tokens{}
	t.set.Store(set)
	return t, nil
}

// LoadTokens reads tokens from the file at path, and reads it again
// whenever its size, modification time or inode changes (checked at every
// Authenticate, that is, once per connection), so a token is added or
// revoked by editing the file, with no restart. Write the file atomically
// (write a temporary file, then rename it over the old one) and readable
// by the server only (mode 0600).
//
// Each line is "NAME TOKEN": an identity name, then white space, then the
// token (no white space inside either); blank lines and lines starting
// with # are ignored. Several lines may share a NAME, but not a TOKEN: a
// file that lists a token twice, or one shorter than MinTokenLen, does not
// parse (LoadTokens returns an error). A file that can no longer be read
// or parsed fails closed: every connection is refused, and the cause
// logged to logger (nil: silent), until the file is fixed.
func LoadTokens(path string, logger *slog.Logger) (*Tokens, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	t := &Tokens{path: path, logger: logger}
	if err := t.Reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// Reload reads the token file again now, whether or not it changed. It
// does nothing for a Tokens made by NewTokens.
func (t *Tokens) Reload() error {
	if t.path == "" {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	st, _ := stamp(t.path)
	return t.load(st)
}

// load reads the file; st is its stamp just before reading. Under mu.
func (t *Tokens) load(st fileStamp) error {
	t.stat = st
	set, err := readTokens(t.path)
	if err != nil {
		err = fmt.Errorf("ferry: token file %s: %w", t.path, err)
		t.logger.Error("ferry: token file unusable: refusing every token until it is fixed", "path", t.path, "err", err)
		t.set.Store(&tokenSet{err: err})
		return err
	}
	if old := t.set.Load(); old != nil {
		t.logger.Info("ferry: token file reloaded", "path", t.path, "tokens", len(set.sums))
	}
	t.set.Store(set)
	return nil
}

// refresh reloads the file if it changed since the last attempt.
func (t *Tokens) refresh() {
	if t.path == "" {
		return
	}
	st, _ := stamp(t.path)
	t.mu.Lock()
	defer t.mu.Unlock()
	if st.same(t.stat) {
		return
	}
	_ = t.load(st)
}

func stamp(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size(), fi: fi}, nil
}

func readTokens(path string) (*tokenSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxTokenFile {
		return nil, fmt.Errorf("larger than %d bytes", maxTokenFile)
	}
	return parseTokens(b)
}

func parseTokens(b []byte) (*tokenSet, error) {
	tokens := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxTokenFile)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		f := strings.Fields(s)
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: want NAME TOKEN", line)
		}
		if _, dup := tokens[f[1]]; dup {
			return nil, fmt.Errorf("line %d: a token is listed twice", line)
		}
		tokens[f[1]] = f[0]
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return newTokenSet(tokens)
}

func newTokenSet(tokens map[string]string) (*tokenSet, error) {
	set := &tokenSet{}
	for tok, name := range tokens {
		if len(tok) < MinTokenLen {
			return nil, fmt.Errorf("ferry: a token of %q is %d bytes; tokens must be at least %d", name, len(tok), MinTokenLen)
		}
		if name == "" {
			return nil, errors.New("ferry: a token maps to an empty identity name")
		}
		set.sums = append(set.sums, sha256.Sum256([]byte(tok)))
		set.names = append(set.names, name)
	}
	return set, nil
}

// Authenticate is a ferry.AuthFunc: it accepts a connection whose token
// (client.WithToken) is one of the valid tokens and returns the token's
// Identity (Source "token"). Any other connection is refused with
// CodeUnauthenticated; the error never contains the token.
func (t *Tokens) Authenticate(_ context.Context, info ferry.AuthInfo) (any, error) {
	t.refresh()
	set := t.set.Load()
	if set.err != nil {
		return nil, ferry.NewError(ferry.CodeUnauthenticated, "the server's token list is unusable")
	}
	if info.Token == "" {
		return nil, ferry.NewError(ferry.CodeUnauthenticated, "no token")
	}
	if i := set.match(info.Token); i >= 0 {
		return Identity{Name: set.names[i], Source: "token"}, nil
	}
	return nil, ferry.NewError(ferry.CodeUnauthenticated, "invalid token")
}

// match returns the index of token in the set, or -1. It compares the
// token's digest with every digest, always all of them, in constant time.
func (s *tokenSet) match(token string) int {
	sum := sha256.Sum256([]byte(token))
	found := -1
	for i := range s.sums {
		eq := subtle.ConstantTimeCompare(sum[:], s.sums[i][:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	return found
}
