package etcd_test

import (
	"testing"

	"github.com/ferryrpc/ferry/discovery/etcd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit23NilClientRefused: NewResolver and Register refuse a nil
// etcd client with an error, as their other bad arguments are. NewResolver
// took it, and the Watcher's first Next then panicked, in the cluster
// client's own goroutine (cluster.New returned fine), taking the process
// down; Register panicked at once.
func TestVaudit23NilClientRefused(t *testing.T) {
	r, err := etcd.NewResolver(nil, "orders")
	require.Error(t, err)
	assert.Nil(t, r)
	assert.Contains(t, err.Error(), "nil etcd client")

	var reg *etcd.Registration
	assert.NotPanics(t, func() { reg, err = etcd.Register(t.Context(), nil, "orders", "127.0.0.1:7000") })
	require.Error(t, err)
	assert.Nil(t, reg)
	assert.Contains(t, err.Error(), "nil etcd client")
}
