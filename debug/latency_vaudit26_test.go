package debug_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ferryrpc/ferry/debug"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit26LatencyEmptyThenTwentyBuckets: Snapshot.Latency, documented
// as 20 log-scaled buckets, is an empty list before any call ("latency":
// [] in JSON, where it was null) and the page says "no calls yet"; once
// calls have finished it has 20 buckets that hold them all, and the page
// draws 20 bars.
func TestVaudit26LatencyEmptyThenTwentyBuckets(t *testing.T) {
	f := start(t)
	get := func(q string) string {
		rec := httptest.NewRecorder()
		f.st.Handler(f.srv).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/ferry"+q, nil))
		require.Equal(t, http.StatusOK, rec.Code)
		return rec.Body.String()
	}
	var raw struct {
		Latency json.RawMessage `json:"latency"`
	}
	require.NoError(t, json.Unmarshal([]byte(get("?format=json")), &raw))
	assert.JSONEq(t, `[]`, string(raw.Latency))
	assert.Contains(t, get(""), "no calls yet")

	f.traffic(t, 5)
	var snap debug.Snapshot
	require.NoError(t, json.Unmarshal([]byte(get("?format=json")), &snap))
	require.Len(t, snap.Latency, 20)
	var n uint64
	for _, b := range snap.Latency {
		n += b.Count
	}
	assert.Equal(t, uint64(6), n, "5 Add and 1 Div")
	page := get("")
	assert.NotContains(t, page, "no calls yet")
	assert.Equal(t, 20, strings.Count(page, `fill="#5a9"`), "the latency chart's bars")
}
