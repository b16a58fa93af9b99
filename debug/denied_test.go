package debug_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/auth"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Calls an authorization policy denies are counted on the page.
func TestStatsCountsDenials(t *testing.T) {
	policy, err := auth.NewPolicy(auth.Rule{Identity: "*", Allow: []string{"Arith.Add", "Gate.*"}})
	require.NoError(t, err)
	f := start(t, server.WithInterceptors(policy.Interceptor()))
	f.traffic(t, 2) // 2 allowed Arith.Add, 1 denied Arith.Div
	var r int64
	err = f.c.Call(t.Context(), "Arith.Div", Args{A: 1, B: 1}, &r)
	assert.Equal(t, ferry.CodePermissionDenied, ferry.CodeOf(err))
	snap := f.st.Snapshot(f.srv)
	assert.Equal(t, uint64(2), snap.Denied)
	assert.Equal(t, uint64(2), find(t, snap, "Arith.Div").Codes["permission_denied"])
	assert.Equal(t, uint64(2), policy.Denied())

	rec := httptest.NewRecorder()
	f.st.Handler(f.srv).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/ferry", nil))
	body, _ := io.ReadAll(rec.Body)
	assert.Contains(t, string(body), "2 calls denied")
}
