package etcd

import (
	"encoding/json"
	"testing"

	"github.com/ferryrpc/ferry/resolver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzWatcherPut feeds the watcher the values a registration key may hold:
// they come from etcd, so from the network, written by any process that
// may write under the prefix. Whatever the bytes, put must not panic; it
// keeps the key exactly when the value is a JSON object with a non-empty
// "addr" string (and "attrs", when present, an object of strings), with
// that address and those attributes, and otherwise drops whatever the key
// held before (NewResolver: "A key whose value does not parse is
// skipped").
func FuzzWatcherPut(f *testing.F) {
	for _, seed := range []string{
		`{"addr":"127.0.0.1:7001"}`,
		`{"addr":"127.0.0.1:7001","attrs":{"weight":"3","priority":"-1","zone":"z1"}}`,
		`{"addr":""}`,
		`{"attrs":{"a":"b"}}`,
		`{"addr":7001}`,
		`{"addr":"x","attrs":{"weight":3}}`,
		`{"addr":"x","attrs":null}`,
		`{"addr":"x","addr":"y"}`,
		`{"ADDR":"x"}`,
		`[]`, `null`, `"addr"`, ``, `{`, "\xff\xfe", `{"addr":"\ud800"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		r, err := NewResolver(nil, "svc")
		require.NoError(t, err)
		w := &watcher{r: r.(*etcdResolver), eps: map[string]resolver.Endpoint{}}
		const key = "/ferry/services/svc/k"
		w.eps[key] = resolver.Endpoint{Addr: "before"}
		w.put(key, value)

		var rec struct {
			Addr  string            `json:"addr"`
			Attrs map[string]string `json:"attrs"`
		}
		valid := json.Unmarshal(value, &rec) == nil && rec.Addr != ""
		ep, kept := w.eps[key]
		require.Equal(t, valid, kept, "kept the key of %q", value)
		if kept {
			assert.Equal(t, rec.Addr, ep.Addr)
			assert.Equal(t, len(rec.Attrs), len(ep.Attrs))
			for k, v := range rec.Attrs {
				assert.Equal(t, v, ep.Attrs[k], "attr %q", k)
			}
		}
		assert.Len(t, w.eps, map[bool]int{true: 1, false: 0}[kept])
	})
}
