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

// TestFirstParam: a control message's first param, and the count of its
// params, without scanning past the first; anything but an array with a
// whole first value is refused.
func TestFirstParam(t *testing.T) {
	for _, c := range []struct {
		name   string
		params []byte
		first  []byte
		n      int
		ok     bool
	}{
		{"[]", []byte{0x90}, nil, 0, false},
		{"[7]", []byte{0x91, 0x07}, []byte{0x07}, 1, true},
		{"[{}, 1, 2]", []byte{0x93, 0x80, 0x01, 0x02}, []byte{0x80}, 3, true},
		{"[\"ab\", cut]", []byte{0x92, 0xa2, 'a', 'b', 0xa5}, []byte{0xa2, 'a', 'b'}, 2, true},
		{"[cut]", []byte{0x91, 0xa5, 'a'}, nil, 1, false},
		{"a map", []byte{0x81, 0xa1, 'k', 0x01}, nil, 0, false},
		{"nil", []byte{0xc0}, nil, 0, false},
		{"empty", nil, nil, 0, false},
	} {
		first, n, ok := FirstParam(c.params)
		assert.Equal(t, c.ok, ok, c.name)
		if c.ok {
			assert.Equal(t, c.first, first, c.name)
			assert.Equal(t, c.n, n, c.name)
		}
	}
	// 4 Mi nils: the first is found without a look at the others.
	big := make([]byte, 5+4<<20)
	big[0], big[1], big[2], big[3], big[4] = 0xdd, 0x00, 0x40, 0x00, 0x00
	for i := 5; i < len(big); i++ {
		big[i] = 0xc0
	}
	allocs := testing.AllocsPerRun(10, func() {
		first, n, ok := FirstParam(big)
		if !ok || n != 4<<20 || len(first) != 1 {
			t.Fatalf("FirstParam = %x, %d, %v", first, n, ok)
		}
	})
	assert.LessOrEqual(t, allocs, 2.0, "the validator of the first value, no more")
}
