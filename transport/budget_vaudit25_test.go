package transport_test

import (
	"net"
	"testing"

	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit25SessionBudget checks Client's and Server's "with a budget
// of cfg.ConnBudget() bytes" for a MemoryBudget below 2 × MaxMessageSize
// + 1 MiB, which Config's doc says is raised (their docs said
// cfg.MemoryBudget: 1 MiB, where the budget was 9 MiB), and "It fails if
// cfg does not pass Validate".
func TestVaudit25SessionBudget(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.MemoryBudget = 1 << 20
	a, b := net.Pipe()
	cs, err := transport.Client(a, cfg)
	require.NoError(t, err)
	defer cs.Close()
	ss, err := transport.Server(b, cfg)
	require.NoError(t, err)
	defer ss.Close()
	assert.Equal(t, int64(9<<20), cfg.ConnBudget())
	assert.Equal(t, cfg.ConnBudget(), cs.Budget().Limit(), "Client")
	assert.Equal(t, cfg.ConnBudget(), ss.Budget().Limit(), "Server")

	cfg.MaxStreams = 0
	c, _ := net.Pipe()
	defer c.Close()
	_, err = transport.Client(c, cfg)
	require.Error(t, err)
	_, err = transport.Server(c, cfg)
	require.Error(t, err)
}
