package meta

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chain appends pairs to ctx as ferry.AppendOutgoingMetadata does.
func chain(base map[string]string, pairs [][2]string) *Appended {
	var a *Appended
	for _, p := range pairs {
		a = &Appended{Context: context.Background(), Key: p[0], Val: p[1], Base: base, Prev: a}
	}
	return a
}

// AppendTo encodes each key once, the newest pair winning over older
// pairs and the base map, and Map agrees: for chains short enough to be
// compared pair by pair and longer ones merged in a map, with keys drawn
// from a small set so that they collide.
func TestAppendedEncodesEachKeyOnce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 500 {
		base := map[string]string{}
		for range rng.IntN(5) {
			base[fmt.Sprint("k", rng.IntN(6))] = "base"
		}
		if rng.IntN(4) == 0 {
			base = nil
		}
		n := 1 + rng.IntN(3*maxLinear)
		pairs := make([][2]string, n)
		want := map[string]string{}
		for k, v := range base {
			want[k] = v
		}
		for i := range pairs {
			pairs[i] = [2]string{fmt.Sprint("k", rng.IntN(10)), fmt.Sprint(round, "-", i)}
			want[pairs[i][0]] = pairs[i][1]
		}
		a := chain(base, pairs)
		assert.Equal(t, want, a.Map(), "round %d", round)

		b := a.AppendTo(nil)
		in, err := Parse(b)
		require.NoError(t, err)
		got := map[string]string{}
		_, _, err = scan(b, func(k, v span) bool {
			key := string(b[k.start:k.end])
			_, dup := got[key]
			assert.False(t, dup, "round %d: key %q twice", round, key)
			got[key] = string(b[v.start:v.end])
			return true
		})
		require.NoError(t, err)
		assert.Equal(t, want, got, "round %d", round)
		assert.Equal(t, len(want), in.Len(), "round %d: the map header counts each key once", round)
		n2, _, ok := msgpack.MapLen(b)
		require.True(t, ok)
		assert.Equal(t, len(want), n2)
	}
}
