package e2e_test

// vaudit16: streaming calls and graceful shutdown, checked against what
// README.md, PROTOCOL.md (sections 4 and 6), SECURITY.md and the package
// docs say about them, and attacked from a raw session.

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestVaudit16WideFrames checks PROTOCOL.md 6: stream frames are msgpack
// arrays, [3, payload] a message and [4] the end of sending. A peer whose
// encoder writes an array16 header, or the type in a wider integer (as
// PROTOCOL.md 2 allows for every unary message), sends the same frames.
func TestVaudit16WideFrames(t *testing.T) {
	_, addr := v15Server(t)
	s := dialSession(t, addr)
	for name, frames := range map[string][][]byte{
		"array16 message":    {{0xdc, 0x00, 0x02, 0x03, 0xa1, 'a'}, closeSend},
		"uint8 type":         {{0x92, 0xcc, 0x03, 0xa1, 'a'}, closeSend},
		"int32 type":         {{0x92, 0xd2, 0, 0, 0, 3, 0xa1, 'a'}, closeSend},
		"array32 end":        {frame("a"), {0xdd, 0, 0, 0, 1, 0x04}},
		"uint16 type of end": {frame("a"), {0x91, 0xcd, 0x00, 0x04}},
	} {
		t.Run(name, func(t *testing.T) {
			st := s.openCall("Echo.Chat")
			st.write(frames...)
			msgs, r := st.status()
			assert.Nil(t, r.err, "status %v %v", r.err, r.ext)
			assert.Equal(t, []any{"a"}, msgs)
			st.ended()
		})
	}
}
