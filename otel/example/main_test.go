package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestExamplePrintsSpansAndMetrics(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out))
	s := out.String()
	assert.Contains(t, s, `Svc.Add(3, 4) = 7; Svc.Greet(Ada) = "hello, dear Ada"`)
	for _, name := range []string{"Svc.Add", "Svc.Greet", "Client.Title"} {
		assert.Equal(t, 2, strings.Count(s, `"Name": "`+name+`"`), "a client and a server span for %s", name)
	}
	assert.Contains(t, s, `"rpc.client.call.duration"`)
	assert.Contains(t, s, `"rpc.server.call.duration"`)
	assert.Contains(t, s, `"Value": "ferry"`)
}
