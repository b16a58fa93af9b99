package rawecho

import (
	"testing"

	"github.com/ferryrpc/ferry/transport"
	"github.com/hashicorp/yamux"
	"github.com/stretchr/testify/assert"
)

// TestYamuxRawUsesYamuxDefaults checks what README.md says of yamux-raw's
// configuration: yamux's defaults (its log discarded), a 256 KiB stream
// window with yamux's keepalive on, where Ferry's transport uses a 1 MiB
// window.
func TestYamuxRawUsesYamuxDefaults(t *testing.T) {
	got, want := yamuxConfig(), yamux.DefaultConfig()
	got.LogOutput, want.LogOutput = nil, nil
	assert.Equal(t, want, got)
	assert.Equal(t, uint32(256<<10), got.MaxStreamWindowSize)
	assert.True(t, got.EnableKeepAlive)
	assert.Equal(t, uint32(1<<20), transport.DefaultConfig().StreamWindow)
}
