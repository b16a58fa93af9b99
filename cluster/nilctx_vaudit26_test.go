package cluster_test

import (
	"context"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/cluster"
	"github.com/ferryrpc/ferry/resolver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit26WaitReadyNilContext: WaitReady refuses a nil ctx with
// CodeInvalidArgument instead of panicking when no endpoint is ready yet.
func TestVaudit26WaitReadyNilContext(t *testing.T) {
	cl, err := cluster.New(resolver.Static())
	require.NoError(t, err)
	defer cl.Close()
	var nilCtx context.Context
	require.NotPanics(t, func() { err = cl.WaitReady(nilCtx, 1) })
	require.Error(t, err)
	assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "%v", err)
}
