package health_test

// Tests of health's doc promises that the other tests leave open.

import (
	"testing"

	"github.com/ferryrpc/ferry/health"
	"github.com/stretchr/testify/assert"
)

// TestAuditStatusAndShutdown checks Server.Status against the package doc:
// NewServer's "" is SERVING, "a name that was never set reports UNKNOWN",
// Shutdown sets every service that has a status and the whole server to
// NOT_SERVING, a never-set name still reports UNKNOWN, and SetStatus after
// Shutdown does nothing, for new names too.
func TestAuditStatusAndShutdown(t *testing.T) {
	hs := health.NewServer()
	assert.Equal(t, health.Serving, hs.Status(""))
	assert.Equal(t, health.Unknown, hs.Status("Orders"))
	hs.SetStatus("Orders", health.Serving)
	hs.SetStatus("Billing", health.NotServing)
	assert.Equal(t, health.Serving, hs.Status("Orders"))

	hs.Shutdown()
	for _, name := range []string{"", "Orders", "Billing"} {
		assert.Equal(t, health.NotServing, hs.Status(name), "%q", name)
	}
	assert.Equal(t, health.Unknown, hs.Status("Never"))
	hs.SetStatus("", health.Serving)
	hs.SetStatus("Late", health.Serving)
	assert.Equal(t, health.NotServing, hs.Status(""))
	assert.Equal(t, health.Unknown, hs.Status("Late"), "SetStatus after Shutdown does nothing")
	hs.Shutdown() // twice is harmless
	assert.Equal(t, health.NotServing, hs.Status("Orders"))
}
