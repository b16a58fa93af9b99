package engine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestCallInfoShared: the calls of one method share one CallInfo, a
// notification has its own, and past the bound each call gets a fresh one.
func TestCallInfoShared(t *testing.T) {
	a := callInfo("Svc.Shared", false)
	assert.Same(t, a, callInfo("Svc.Shared", false))
	assert.Equal(t, "Svc.Shared", a.Method)
	assert.False(t, a.Notify)
	n := callInfo("Svc.Shared", true)
	assert.NotSame(t, a, n)
	assert.True(t, n.Notify)
	assert.Equal(t, "Svc.Shared", n.Method)

	long := strings.Repeat("x", maxCallInfoName+1)
	assert.NotSame(t, callInfo(long, false), callInfo(long, false), "a long name is not kept")

	saved := callInfoCount.Load()
	callInfoCount.Store(maxCallInfos)
	defer callInfoCount.Store(saved)
	name := fmt.Sprintf("Svc.Unbounded%d", saved)
	x, y := callInfo(name, false), callInfo(name, false)
	assert.NotSame(t, x, y, "past the bound nothing is kept")
	assert.Equal(t, name, x.Method)
	assert.Same(t, a, callInfo("Svc.Shared", false), "what was kept still is")
}
