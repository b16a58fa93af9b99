package e2e_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDeadlineAlreadyPassedNotExecuted: PROTOCOL.md 3, the "t" key: "a
// negative one has already passed: the call is answered
// deadline_exceeded, "n": true, and its handler does not run", and the
// "n" key's list ("because its deadline passed ... before its handler
// started"). A zero "t" is no deadline: the handler runs.
func TestDeadlineAlreadyPassedNotExecuted(t *testing.T) {
	var runs atomic.Int32
	s := server.New()
	require.NoError(t, server.Handle(s, "T.Count", func(context.Context, *int) (*int, error) {
		n := int(runs.Add(1))
		return &n, nil
	}))
	t.Cleanup(func() { s.Close() })
	c := dialRaw(t, listen(t, s))
	for i, ts := range []any{-1, int64(-1) << 62, int8(-128)} {
		r := c.call(request(uint32(10+i), "T.Count", []any{1}, map[string]any{"t": ts}))
		require.NotNil(t, r.err, "t=%v", ts)
		assert.EqualValues(t, 4, r.ext["c"], "t=%v: deadline_exceeded: %v", ts, r.ext)
		assert.Equal(t, true, r.ext["n"], "t=%v: not executed: %v", ts, r.ext)
	}
	assert.Zero(t, runs.Load(), "no handler ran")
	r := c.call(request(20, "T.Count", []any{1}, map[string]any{"t": 0}))
	assert.Nil(t, r.err, "t=0 is no deadline")
	assert.EqualValues(t, 1, r.result)
}
