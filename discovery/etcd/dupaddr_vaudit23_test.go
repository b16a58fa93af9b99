package etcd_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/ferryrpc/ferry/discovery/etcd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestVaudit23DuplicateAddrIsStable: two keys of a service that name the
// same address with different attrs (one written by hand or by another
// tool beside a server's own registration) made the watcher pick one of
// them at random each time it rebuilt the set, from the order of a Go map.
// So an unrelated change flipped that endpoint's Attrs, which
// resolver.Endpoint documents as "a new process now serves there": the
// cluster client reconnected to a server that had not restarted. Now the
// key first in key order counts, every time.
func TestVaudit23DuplicateAddrIsStable(t *testing.T) {
	cli := etcdClient(t)
	pfx := "/ferry-test/" + uniqueService() + "/"
	defer func() { _, _ = cli.Delete(context.Background(), pfx, clientv3.WithPrefix()) }()
	for k, v := range map[string]string{
		"orders/127.0.0.1:7001": `{"addr":"127.0.0.1:7001","attrs":{"instance":"a"}}`,
		"orders/zz-by-hand":     `{"addr":"127.0.0.1:7001","attrs":{"instance":"b"}}`,
	} {
		_, err := cli.Put(t.Context(), pfx+k, v)
		require.NoError(t, err)
	}
	w := watch(t, cli, "orders", etcd.WithPrefix(pfx))
	eps := next(t, w)
	require.Equal(t, []string{"127.0.0.1:7001"}, addrsOf(eps))
	assert.Equal(t, "a", eps[0].Attrs["instance"], "the key first in key order counts")
	for i := range 20 {
		// An unrelated endpoint comes and goes; 127.0.0.1:7001 stays as it is.
		key := pfx + "orders/other"
		if i%2 == 0 {
			_, err := cli.Put(t.Context(), key, fmt.Sprintf(`{"addr":"127.0.0.1:7002","attrs":{"n":"%d"}}`, i))
			require.NoError(t, err)
		} else {
			_, err := cli.Delete(t.Context(), key)
			require.NoError(t, err)
		}
		eps := next(t, w)
		require.NotEmpty(t, eps)
		require.Equal(t, "127.0.0.1:7001", eps[0].Addr)
		require.Equal(t, "a", eps[0].Attrs["instance"], "change %d flipped the attrs of an endpoint that did not change", i)
	}
}
