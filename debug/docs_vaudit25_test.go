package debug_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/debug"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit25RefreshRange checks Handler's "refresh=N (1 to 3600)
// reloads the page every N seconds": values outside the range, or not a
// number, add no reload.
func TestVaudit25RefreshRange(t *testing.T) {
	h := debug.New().Handler(nil)
	for q, want := range map[string]string{"1": "1", "3600": "3600", "0": "", "3601": "", "-5": "", "x": "", "2.5": ""} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/ferry?refresh="+q, nil))
		require.Equal(t, http.StatusOK, rec.Code)
		if want == "" {
			assert.NotContains(t, rec.Body.String(), `http-equiv="refresh"`, "refresh=%s", q)
		} else {
			assert.Contains(t, rec.Body.String(), `<meta http-equiv="refresh" content="`+want+`">`, "refresh=%s", q)
		}
	}
}

// TestVaudit25SnapshotListsRegistered checks Snapshot's "when s is not
// nil, every method registered on s is listed (with zero calls if it has
// none)", Kind "unary" there, and MethodStats' "Kind is empty ... for the
// Unregistered row" once a call names an unknown method (counted as
// refused with code unimplemented, not in Calls).
func TestVaudit25SnapshotListsRegistered(t *testing.T) {
	st := debug.New()
	s := server.New(st.Option())
	require.NoError(t, server.Handle(s, "Svc.M", func(ctx context.Context, _ *struct{}) (*struct{}, error) { return nil, nil }))
	snap := st.Snapshot(s)
	require.Len(t, snap.Methods, 1)
	assert.Equal(t, "Svc.M", snap.Methods[0].Name)
	assert.Equal(t, "unary", snap.Methods[0].Kind)
	assert.Zero(t, snap.Methods[0].Calls)
	assert.Empty(t, st.Snapshot(nil).Methods, "without a server, only methods that had calls")

	c, _ := ferrytest.ServeAndDial(t, s)
	err := c.Call(t.Context(), "No.Such", struct{}{}, nil)
	require.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err))
	snap = st.Snapshot(s)
	var row *debug.MethodStats
	for i := range snap.Methods {
		if snap.Methods[i].Name == debug.Unregistered {
			row = &snap.Methods[i]
		}
		assert.NotEqual(t, "No.Such", snap.Methods[i].Name, "names from the network are not kept")
	}
	require.NotNil(t, row)
	assert.Empty(t, row.Kind)
	assert.Equal(t, uint64(1), row.Refused)
	assert.Zero(t, row.Calls)
}
