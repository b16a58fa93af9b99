package server_test

import (
	"context"
	"testing"

	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// adder is an unexported type with an exported method.
type adder struct{}

func (adder) Add(_ context.Context, a [2]int, r *int) error { *r = a[0] + a[1]; return nil }

// Adder is exported; embedding it in an unnamed struct makes a receiver
// type with no name.
type Adder struct{ adder }

// TestVaudit26RegisterNameForUnnamedOrUnexported: Register refuses a
// receiver whose type is not exported, or has no name, with an error
// that says to use RegisterName (as its doc now says); RegisterName then
// works, and the method answers.
func TestVaudit26RegisterNameForUnnamedOrUnexported(t *testing.T) {
	s := server.New()
	for name, rcvr := range map[string]any{
		"unexported":            adder{},
		"pointer to unexported": &adder{},
		"unnamed":               &struct{ Adder }{},
	} {
		err := s.Register(rcvr)
		if assert.Error(t, err, name) {
			assert.Contains(t, err.Error(), "use RegisterName", name)
		}
	}
	require.NoError(t, s.RegisterName("Sum", adder{}))
	require.NoError(t, s.RegisterName("Embedded", &struct{ Adder }{}))
	c, _ := ferrytest.ServeAndDial(t, s)
	for _, m := range []string{"Sum.Add", "Embedded.Add"} {
		var r int
		require.NoError(t, c.Call(t.Context(), m, [2]int{2, 3}, &r), m)
		assert.Equal(t, 5, r, m)
	}
}
