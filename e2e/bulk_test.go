package e2e_test

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bulkDoc is a struct whose encoding is large because of one field.
type bulkDoc struct {
	Name string
	Data []byte
}

// TestBulkPayloads: large []byte, codec.Raw and struct arguments and
// replies (queued by reference or from a pooled buffer, not copied into
// the batch) arrive intact, with small calls interleaved, while each
// caller rewrites its buffers as soon as its call returns (the race
// detector sees a write that still reads them).
func TestBulkPayloads(t *testing.T) {
	eachConduit(t, func(t *testing.T, tr conduit) {
		s := newServer(t)
		var mu sync.Mutex
		kept := map[byte][]byte{} // each caller's last reply, rewritten once its call is over
		require.NoError(t, server.Handle(s, "Bulk.Bytes", func(_ context.Context, p *[]byte) (*[]byte, error) {
			r := bytes.Clone(*p)
			mu.Lock()
			kept[r[0]] = r
			mu.Unlock()
			return &r, nil
		}))
		require.NoError(t, server.Handle(s, "Bulk.Raw", func(_ context.Context, p *codec.Raw) (*codec.Raw, error) {
			r := bytes.Clone(*p)
			return (*codec.Raw)(&r), nil
		}))
		require.NoError(t, server.Handle(s, "Bulk.Doc", func(_ context.Context, d *bulkDoc) (*bulkDoc, error) {
			return d, nil
		}))
		require.NoError(t, server.Handle(s, "Bulk.Small", func(_ context.Context, n *int) (*int, error) { r := *n + 1; return &r, nil }))
		c := tr.dial(t, s)
		ctx := context.Background()
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 300<<10+g)
				for i := range 6 {
					for j := range buf {
						buf[j] = byte(g + i + j>>9)
					}
					buf[0] = byte(g)
					want := bytes.Clone(buf)
					switch i % 3 {
					case 0:
						var got []byte
						if !assert.NoError(t, c.Call(ctx, "Bulk.Bytes", buf, &got)) {
							return
						}
						assert.True(t, bytes.Equal(want, got), "bytes %d/%d", g, i)
					case 1:
						raw := codec.Raw(mustMarshal(buf))
						wantRaw := bytes.Clone(raw)
						var got codec.Raw
						if !assert.NoError(t, c.Call(ctx, "Bulk.Raw", raw, &got)) {
							return
						}
						assert.True(t, bytes.Equal(wantRaw, got), "raw %d/%d", g, i)
						clear(raw)
					case 2:
						var got bulkDoc
						if !assert.NoError(t, c.Call(ctx, "Bulk.Doc", &bulkDoc{Name: "d", Data: buf}, &got)) {
							return
						}
						assert.Equal(t, "d", got.Name)
						assert.True(t, bytes.Equal(want, got.Data), "doc %d/%d", g, i)
					}
					clear(buf) // the call is over: nobody may read buf now
					var n int
					if assert.NoError(t, c.Call(ctx, "Bulk.Small", i, &n)) {
						assert.Equal(t, i+1, n)
					}
					mu.Lock()
					clear(kept[byte(g)]) // the reply arrived: the server must hold it no more
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	})
}
