package e2e_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit24MetadataCombinations: WithOutgoingMetadata merges (md's
// values win), AppendOutgoingMetadata adds (a later pair wins), and
// NewOutgoingContext replaces, in any order and past the short chains,
// as the handler sees them and as OutgoingMetadata reports them.
func TestVaudit24MetadataCombinations(t *testing.T) {
	s := newServer(t)
	require.NoError(t, server.Handle(s, "M.Get", func(ctx context.Context, _ *struct{}) (*map[string]string, error) {
		md := map[string]string(ferry.IncomingMetadata(ctx))
		if md == nil {
			md = map[string]string{}
		}
		return &md, nil
	}))
	c := dialTCP(t, s)
	check := func(name string, ctx context.Context, want map[string]string) {
		t.Helper()
		var got map[string]string
		require.NoError(t, c.Call(ctx, "M.Get", nil, &got), name)
		assert.Equal(t, want, got, name)
		out := map[string]string(ferry.OutgoingMetadata(ctx))
		if out == nil {
			out = map[string]string{}
		}
		assert.Equal(t, want, out, name+": OutgoingMetadata")
	}
	bg := t.Context()
	ctx1 := ferry.WithOutgoingMetadata(bg, ferry.Metadata{"a": "1", "b": "1"})
	check("with", ctx1, map[string]string{"a": "1", "b": "1"})
	ctx2 := ferry.AppendOutgoingMetadata(ctx1, "a", "2")
	check("append over with", ctx2, map[string]string{"a": "2", "b": "1"})
	ctx3 := ctx2
	want3 := map[string]string{"a": "2", "b": "1"}
	for i := range 12 {
		k := fmt.Sprint("k", i%5)
		ctx3 = ferry.AppendOutgoingMetadata(ctx3, k, fmt.Sprint(i))
		want3[k] = fmt.Sprint(i)
		check(fmt.Sprint("append chain ", i), ctx3, want3)
	}
	ctx4 := ferry.WithOutgoingMetadata(ctx3, ferry.Metadata{"a": "5", "d": "4", "k0": "w"})
	want4 := map[string]string{}
	for k, v := range want3 {
		want4[k] = v
	}
	want4["a"], want4["d"], want4["k0"] = "5", "4", "w"
	check("with over appends", ctx4, want4)
	ctx5 := ferry.NewOutgoingContext(ctx4, ferry.Metadata{"z": "1"})
	check("new replaces", ctx5, map[string]string{"z": "1"})
	ctx6 := ferry.AppendOutgoingMetadata(ctx5, "y", "2")
	check("append over new", ctx6, map[string]string{"z": "1", "y": "2"})
	ctx7 := ferry.NewOutgoingContext(ctx6, nil)
	check("new nil", ctx7, map[string]string{})
	ctx8 := ferry.AppendOutgoingMetadata(bg, "only", "1")
	check("append alone", ctx8, map[string]string{"only": "1"})
	md := ferry.Metadata{"m": "1"}
	ctx9 := ferry.WithOutgoingMetadata(bg, md)
	md["m"] = "changed"
	check("with copies md", ctx9, map[string]string{"m": "1"})
}
