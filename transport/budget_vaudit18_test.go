package transport_test

import (
	"testing"

	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
)

// TestVaudit18NilBudgetTakesEveryMethod checks "A nil *Budget accepts
// every charge" for every method a connection's code calls on the budget
// it was given, OnShed included (it dereferenced the nil budget).
func TestVaudit18NilBudgetTakesEveryMethod(t *testing.T) {
	var b *transport.Budget
	assert.NotPanics(t, func() { b.OnShed(func() {}) })
	assert.True(t, b.Charge(1))
	assert.True(t, b.Force(1))
	b.Release(1)
	assert.Zero(t, b.Used())
	assert.Zero(t, b.Limit())
	assert.NotPanics(t, b.Close)
}
