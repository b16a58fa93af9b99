package etcd_test

import (
	"testing"

	"github.com/ferryrpc/ferry/cluster"
	"github.com/ferryrpc/ferry/discovery/etcd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit23NilClientRefused: a nil etcd client is an error, not a
// crash. The Resolver of one (NewResolver checks only the service and the
// options, as TestDocsOptionRanges uses) was taken by cluster.New, whose
// resolver goroutine then panicked at the Watcher's first Next, taking
// the process down; Register panicked at once. Now Watch fails, so that
// cluster.New returns the error, and so does Register.
func TestVaudit23NilClientRefused(t *testing.T) {
	r, err := etcd.NewResolver(nil, "orders")
	require.NoError(t, err)
	w, err := r.Watch(t.Context())
	assert.Nil(t, w)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nil etcd client")
	var c *cluster.Client
	require.NotPanics(t, func() { c, err = cluster.New(r) })
	assert.Nil(t, c)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nil etcd client")

	var reg *etcd.Registration
	require.NotPanics(t, func() { reg, err = etcd.Register(t.Context(), nil, "orders", "127.0.0.1:7000") })
	require.Error(t, err)
	assert.Nil(t, reg)
	assert.Contains(t, err.Error(), "nil etcd client")
}
