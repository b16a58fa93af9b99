package resolver_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/resolver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit21ManualNextSkipsSameSet: a Manual's Watcher keeps the
// Watcher contract ("Next blocks until the set differs from the one it
// returned last"): an Update with the set Next returned last (in another
// order, or after a Fail) does not make Next return, and a set that
// differs only in Attrs does. Before, Next returned every Update.
func TestVaudit21ManualNextSkipsSameSet(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	a, b := resolver.Endpoint{Addr: "a:1"}, resolver.Endpoint{Addr: "b:1"}
	m := resolver.NewManual(a, b)
	w, err := m.Watch(ctx)
	require.NoError(t, err)
	defer w.Close()
	set, err := w.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, []resolver.Endpoint{a, b}, set)

	blocks := func(what string) {
		t.Helper()
		short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancelShort()
		set, err := w.Next(short)
		assert.ErrorIs(t, err, context.DeadlineExceeded, "%s: Next returned %v", what, set)
	}
	m.Update(b, a)
	blocks("the same set again")

	boom := errors.New("boom")
	m.Fail(boom)
	m.Update(a, b)
	_, err = w.Next(ctx)
	assert.ErrorIs(t, err, boom)
	blocks("the same set after a Fail")

	a2 := resolver.Endpoint{Addr: "a:1", Attrs: map[string]string{"instance": "2"}}
	m.Update(a2, b)
	set, err = w.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, []resolver.Endpoint{a2, b}, set, "new Attrs: a new set")
	m.Update(b)
	m.Update(a2, b)
	blocks("a change undone before Next")
}
