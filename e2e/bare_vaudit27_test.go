package e2e_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestVaudit27NonArrayParams: PROTOCOL.md 2.1, params that are not an
// array are decoded as the args value itself (a map fills a struct, nil
// leaves the zero value), by the same rules as any argument: 5 reaches an
// integer argument, a bin a byte slice, and a struct refuses 5.
func TestVaudit27NonArrayParams(t *testing.T) {
	s := newServer(t)
	c := dialRaw(t, listen(t, s))
	r := c.call(enc([]any{0, 1, "Echo.Sleep", 5}))
	assert.Nil(t, r.err, "5 is Echo.Sleep's int64")
	assert.Equal(t, true, r.result)
	r = c.call(enc([]any{0, 2, "Echo.Sleep", "hi"}))
	assert.Equal(t, `Echo.Sleep: argument 1: want an integer, got "hi"`, r.err)
	r = c.call(enc([]any{0, 3, "Arith.Add", 5}))
	assert.Equal(t, "Arith.Add: want a map or an array, got 5", r.err)
	r = c.call(enc([]any{0, 4, "Echo.Echo", []byte("abc")}))
	assert.Nil(t, r.err)
	assert.Equal(t, []byte("abc"), r.result, "a bin reaches a codec.Raw whole")
}
