package transport_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
)

// TestVaudit18ValidateRanges checks Validate, which "reports the first
// field outside its documented range", against the fields' docs: the
// timeouts and AcceptBacklog must be positive (a zero one is an error,
// not "none"), KeepAliveInterval may be zero (no keepalives) but not
// negative, and AcceptBacklog has the range MaxStreams has, 1 to 65536
// (yamux makes a channel of AcceptBacklog entries for every session, 8
// bytes each, so a backlog of 2^30 made each session allocate 8 GiB).
func TestVaudit18ValidateRanges(t *testing.T) {
	ok := func(name string, edit func(*transport.Config)) {
		t.Helper()
		cfg := transport.DefaultConfig()
		edit(&cfg)
		assert.NoError(t, cfg.Validate(), name)
	}
	bad := func(name string, edit func(*transport.Config)) {
		t.Helper()
		cfg := transport.DefaultConfig()
		edit(&cfg)
		assert.Error(t, cfg.Validate(), name)
	}
	ok("no keepalives", func(c *transport.Config) { c.KeepAliveInterval = 0 })
	bad("negative keepalive", func(c *transport.Config) { c.KeepAliveInterval = -time.Second })
	bad("zero StreamCloseTimeout", func(c *transport.Config) { c.StreamCloseTimeout = 0 })
	bad("zero StreamOpenTimeout", func(c *transport.Config) { c.StreamOpenTimeout = 0 })
	bad("zero SniffTimeout", func(c *transport.Config) { c.SniffTimeout = 0 })
	ok("tiny StreamCloseTimeout", func(c *transport.Config) { c.StreamCloseTimeout = time.Nanosecond })
	bad("zero AcceptBacklog", func(c *transport.Config) { c.AcceptBacklog = 0 })
	ok("AcceptBacklog 1", func(c *transport.Config) { c.AcceptBacklog = 1 })
	ok("AcceptBacklog 65536", func(c *transport.Config) { c.AcceptBacklog = 65536 })
	bad("AcceptBacklog 65537", func(c *transport.Config) { c.AcceptBacklog = 65537 })
	if runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64" {
		bad("AcceptBacklog 2^30", func(c *transport.Config) { c.AcceptBacklog = 1 << 30 })
	}
}
