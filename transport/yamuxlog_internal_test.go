package transport

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(strings.TrimSpace(l.b.String()), "\n")
}

// TestYamuxLogRateLimited: a burst of yamux lines is cut to the burst;
// after a pause the next line goes through and says how many were dropped.
func TestYamuxLogRateLimited(t *testing.T) {
	var buf lockedBuffer
	y := newYamuxLog(slog.New(slog.NewTextHandler(&buf, nil)))
	for i := range 1000 {
		y.Printf("[WARN] yamux: backlog exceeded, forcing connection reset %d", i)
	}
	lines := buf.lines()
	assert.GreaterOrEqual(t, len(lines), yamuxLogBurst)
	assert.Less(t, len(lines), yamuxLogBurst+yamuxLogRate, "a burst of 1,000 lines")
	assert.Contains(t, lines[0], "level=WARN")

	y.mu.Lock()
	y.tokens.last = y.tokens.last.Add(-time.Second) // a second passes
	y.mu.Unlock()
	y.Print("[ERR] yamux: later")
	lines = buf.lines()
	assert.Contains(t, lines[len(lines)-1], "yamux: later")
	assert.Regexp(t, `\(\d+ earlier yamux lines of this session dropped\)`, lines[len(lines)-1])
}
