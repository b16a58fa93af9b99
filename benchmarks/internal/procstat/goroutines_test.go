package procstat

import (
	"bytes"
	"context"
	"runtime/pprof"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGoroutinesByLabel starts goroutines under two values of a label
// (one of them started by a labelled goroutine) and one without it, and
// counts them.
func TestGoroutinesByLabel(t *testing.T) {
	const key = "procstat.test"
	before, err := GoroutinesByLabel(key)
	require.NoError(t, err)
	stop, spawned := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	park := func() { defer wg.Done(); <-stop }
	wg.Add(6)
	pprof.Do(context.Background(), pprof.Labels(key, "a", "other", "x"), func(context.Context) {
		go park()
		go park()
		go func() { // its child inherits the label
			defer wg.Done()
			go park()
			close(spawned)
			<-stop
		}()
	})
	<-spawned
	pprof.Do(context.Background(), pprof.Labels(key, "b"), func(context.Context) { go park() })
	go park()
	after, err := GoroutinesByLabel(key)
	close(stop)
	wg.Wait()
	require.NoError(t, err)
	assert.Equal(t, 4, after["a"]-before["a"])
	assert.Equal(t, 1, after["b"]-before["b"], "the unlabelled goroutine counts under neither")
}

func TestParseGoroutines(t *testing.T) {
	profile := `goroutine profile: total 7
3 @ 0x1 0x2
# labels: {"k":"client", "z":"q"}
#	0x1	main.f+0x1	/f.go:1

2 @ 0x3
#	0x3	main.g+0x1	/g.go:1

1 @ 0x4
# labels: {"a":"k:\"x", "k":"server"}
#	0x4	main.h+0x1	/h.go:1

1 @ 0x5
# labels: {"k":"server"}
`
	got, err := parseGoroutines(bytes.NewBufferString(profile), "k")
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"client": 3, "": 2, "server": 2}, got)
	_, err = parseGoroutines(bytes.NewBufferString("x @ 0x1\n"), "k")
	assert.Error(t, err)
}
