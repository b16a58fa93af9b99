package bgroup_test

import (
	"sync/atomic"
	"testing"

	"github.com/ferryrpc/ferry/internal/bgroup"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestGroupWaitsAndRefusesAfterWait: Wait waits for every goroutine Go
// started, and Go starts none once Wait has begun.
func TestGroupWaitsAndRefusesAfterWait(t *testing.T) {
	var g bgroup.Group
	var ran atomic.Int32
	release := make(chan struct{})
	require.True(t, g.Go(func() { <-release; ran.Add(1) }))
	require.True(t, g.Go(func() { ran.Add(1) }))
	waited := make(chan struct{})
	go func() { g.Wait(); close(waited) }()
	close(release)
	<-waited
	assert.Equal(t, int32(2), ran.Load(), "Wait returned before the goroutines ended")
	assert.False(t, g.Go(func() { ran.Add(1) }), "Go after Wait")
	assert.Equal(t, int32(2), ran.Load())
}

// TestGroupGoDuringWait: goroutines started from many goroutines while
// another waits are either waited for or refused, never lost (run it
// with -race: a WaitGroup Add from zero during Wait is reported).
func TestGroupGoDuringWait(t *testing.T) {
	for range 200 {
		var g bgroup.Group
		var started, ended atomic.Int32
		done := make(chan struct{})
		for range 4 {
			go func() {
				defer func() { done <- struct{}{} }()
				if g.Go(func() { ended.Add(1) }) {
					started.Add(1)
				}
			}()
		}
		g.Wait()
		// Every Go that reported true ran to its end before Wait
		// returned, and none ran after.
		n := ended.Load()
		for range 4 {
			<-done
		}
		assert.Equal(t, started.Load(), n)
		assert.Equal(t, n, ended.Load())
	}
}
