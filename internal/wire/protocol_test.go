package wire

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestNotificationOnly: every reserved method but the hello is a
// notification (PROTOCOL.md 4); other names, near ones included, are not.
func TestNotificationOnly(t *testing.T) {
	for _, m := range []string{MethodCancel, MethodCancelStream, MethodGoAway, MethodDrained, MethodSettled} {
		assert.True(t, NotificationOnly([]byte(m)), m)
	}
	for _, m := range []string{MethodHello, "$ferry.nope", "$ferry.cancel\x00", "$FERRY.cancel", "Echo.Echo", ""} {
		assert.False(t, NotificationOnly([]byte(m)), "%q", m)
	}
}
