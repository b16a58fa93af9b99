package main

import (
	"os"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/health"
	"github.com/ferryrpc/ferry/introspect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAuditWhatItServes checks the package doc's list of what the server
// exposes, the README's examples table (Echo.Echo, Arith.Add, Arith.Div)
// and CLI lines (Counter.Count, Echo.Chat, and "ferry list", which needs
// introspection): exactly these methods, of these kinds, and a health
// service that reports SERVING.
func TestAuditWhatItServes(t *testing.T) {
	srv := startChild(t)
	c, err := client.Dial(t.Context(), srv.addr)
	require.NoError(t, err)
	defer c.Close()

	var list introspect.ListReply
	require.NoError(t, c.Call(t.Context(), introspect.ListMethod, nil, &list))
	got := map[string]string{}
	for _, s := range list.Services {
		for _, m := range s.Methods {
			got[m.Name] = m.Kind
		}
	}
	assert.Equal(t, map[string]string{
		"Arith.Add": "unary", "Arith.Div": "unary", "Arith.Mul": "unary",
		"Echo.Echo": "unary", "Echo.Map": "unary",
		"Counter.Count": "server", "Echo.Chat": "bidi",
		"Introspect.List": "unary", "Introspect.Describe": "unary",
		health.Method: "unary",
	}, got)

	st, err := health.Check(t.Context(), c, "")
	require.NoError(t, err)
	assert.Equal(t, health.Serving, st)

	require.NoError(t, srv.cmd.Process.Signal(os.Interrupt))
	srv.waitLog(t, "stopped")
	assert.Equal(t, 0, srv.exitCode(t), "nothing was running: a clean exit")
}

// TestAuditExitsZeroWhenCallsFinished checks "running calls finish (for
// at most -grace), then it exits 0 when they all finished" for a bidi
// call whose caller closed its side during the shutdown, and so ended
// it, without reading the call's end: the server does not wait -grace
// for that caller, and exits 0.
func TestAuditExitsZeroWhenCallsFinished(t *testing.T) {
	srv := startChild(t, "-grace", "5s")
	_, st := openChat(t, srv.addr)
	defer st.Close()
	require.NoError(t, srv.cmd.Process.Signal(os.Interrupt))
	srv.waitLog(t, "shutting down")
	start := time.Now()
	require.NoError(t, st.CloseSend())
	srv.waitLog(t, "stopped")
	assert.Equal(t, 0, srv.exitCode(t))
	assert.Less(t, time.Since(start), 2*time.Second, "it waited for the caller")
}
