package auth_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit23DocCallsMatchSignatures: the code in this package's doc
// comments (the indented lines) calls auth.F with as many arguments as F
// takes. The Tokens type's doc showed auth.LoadTokens("/etc/ferry/tokens"),
// which does not compile: LoadTokens also takes a logger.
func TestVaudit23DocCallsMatchSignatures(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	params := map[string][2]int{} // exported func: fixed params, variadic (0 or 1)
	var comments []*ast.CommentGroup
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		require.NoError(t, err)
		f, err := parser.ParseFile(fset, name, src, parser.ParseComments)
		require.NoError(t, err)
		comments = append(comments, f.Comments...)
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv != nil || !fd.Name.IsExported() {
				continue
			}
			n, variadic := 0, 0
			for _, p := range fd.Type.Params.List {
				if _, ok := p.Type.(*ast.Ellipsis); ok {
					variadic = 1
					continue
				}
				n += max(1, len(p.Names))
			}
			params[fd.Name.Name] = [2]int{n, variadic}
		}
	}
	require.Contains(t, params, "LoadTokens")
	checked := 0
	for _, cg := range comments {
		for _, c := range cg.List {
			line, ok := strings.CutPrefix(c.Text, "//\t")
			if !ok {
				continue
			}
			for rest := line; ; {
				_, after, found := strings.Cut(rest, "auth.")
				if !found {
					break
				}
				rest = after
				name, _, _ := strings.Cut(after, "(")
				want, known := params[name]
				if !known || !strings.HasPrefix(after[len(name):], "(") {
					continue
				}
				call, err := parser.ParseExpr("auth." + balanced(after))
				if err != nil {
					continue // a call whose arguments go on over the next lines
				}
				got := len(call.(*ast.CallExpr).Args)
				checked++
				if want[1] == 0 {
					assert.Equal(t, want[0], got, "%s: %s", fset.Position(c.Pos()), line)
				} else {
					assert.GreaterOrEqual(t, got, want[0], "%s: %s", fset.Position(c.Pos()), line)
				}
			}
		}
	}
	assert.Positive(t, checked)
}

// balanced returns s up to the parenthesis that closes its first one.
func balanced(s string) string {
	depth := 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			if depth--; depth == 0 {
				return s[:i+1]
			}
		}
	}
	return s
}
